// Site dispatcher 出场管理: the gate check of a truck leaving the site (POST /manifests/check)
// with each refusal reason listed, and the manifest issued when it may leave (POST /manifests);
// the site's manifests of the last days below.

import { errorBox, get, post, showFieldErrors } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';

export default {
  id: 'dispatcher',
  title: 'view_dispatcher',
  roles: ['site_dispatcher'],
  async render(main) {
    const permitSelect = h('select', { name: 'permit_id', id: 'gate-permit', required: true });
    const plate = h('input', { name: 'plate', id: 'gate-plate', required: true, list: 'gate-plates', autocomplete: 'off', maxlength: 8 });
    const plates = h('datalist', { id: 'gate-plates' });
    const category = h('select', { name: 'category', id: 'gate-category' });
    const volume = h('input', { name: 'declared_volume_m3', id: 'gate-volume', type: 'number', min: 0, step: '0.1', inputmode: 'decimal' });
    const weight = h('input', { name: 'declared_weight_t', id: 'gate-weight', type: 'number', min: 0, step: '0.01', inputmode: 'decimal' });
    const verdict = h('div', { id: 'gate-verdict', role: 'status' });
    const form = h(
      'form',
      { class: 'card form', id: 'gate-form' },
      h('h3', {}, t('gate_check')),
      h('label', {}, t('permit'), permitSelect),
      h('label', {}, t('plate'), plate, plates),
      h('label', {}, t('category'), category),
      h('label', {}, t('declared_m3'), volume),
      h('label', {}, t('declared_t'), weight),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'gate-check' }, t('check_only')),
        h('button', { type: 'submit', class: 'primary', id: 'gate-issue' }, t('issue_manifest')),
      ),
      verdict,
    );
    const listEl = h('div', { id: 'site-manifests' });
    main.append(h('div', { class: 'review' }, h('div', { class: 'queue' }, form), h('div', { class: 'detail' }, listEl)));

    let permits = [];
    try {
      const [page, enums] = await Promise.all([get('permits', { status: 'approved', limit: 200 }), get('registry/enums')]);
      permits = page.data;
      fill(permitSelect, permits.map((p) => h('option', { value: p.id }, `${p.permit_no} → ${p.facility_name} (${p.valid_from}–${p.valid_to})`)));
      const labels = enums.waste_category || enums.WasteCategory || {};
      const choose = () => {
        const p = permits.find((x) => String(x.id) === permitSelect.value);
        fill(plates, (p?.vehicles || []).map((v) => h('option', { value: v })));
        fill(category, (p?.categories || []).map((c) => h('option', { value: c }, labels[c] ? pick(labels[c].zh, labels[c].en) : c)));
      };
      permitSelect.addEventListener('change', choose);
      choose();
    } catch (error) {
      form.prepend(errorBox(error));
    }

    function body() {
      const out = { permit_id: Number(permitSelect.value), plate: plate.value.trim(), category: category.value };
      if (volume.value !== '') out.declared_volume_m3 = Number(volume.value);
      if (weight.value !== '') out.declared_weight_t = Number(weight.value);
      return out;
    }

    function refusal(problems) {
      return h(
        'ul',
        { class: 'refusals', id: 'gate-refusals' },
        problems.map((p) => h('li', { class: 'refusal', dataset: { field: p.field } }, h('code', {}, p.field), ' ', pick(p.zh, p.en))),
      );
    }

    form.querySelector('#gate-check').addEventListener('click', async () => {
      clear(verdict);
      try {
        const answer = await post('manifests/check', body());
        verdict.append(
          answer.may_leave
            ? h('p', { class: 'ok', id: 'gate-ok' }, t('may_leave'))
            : h('div', {}, h('p', { class: 'refused', id: 'gate-refused' }, t('may_not_leave')), refusal(answer.problems)),
        );
      } catch (error) {
        showFieldErrors(form, error);
        verdict.append(h('p', { class: 'refused', id: 'gate-refused' }, t('may_not_leave')), errorBox(error));
      }
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(verdict);
      try {
        const manifest = await post('manifests', body());
        verdict.append(h('p', { class: 'ok', id: 'gate-issued' }, t('manifest_issued', { no: manifest.manifest_no })));
        loadList();
      } catch (error) {
        showFieldErrors(form, error);
        verdict.append(h('p', { class: 'refused', id: 'gate-refused' }, t('may_not_leave')), errorBox(error));
      }
    });

    async function loadList() {
      try {
        const page = await get('manifests', { limit: 30 });
        fill(
          listEl,
          h('h3', {}, t('site_manifests'), ' ', h('span', { class: 'muted' }, t('count_of', { n: page.count }))),
          h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, ['manifest', 'plate', 'declared_m3', 'issued_at', 'state'].map((k) => h('th', {}, t(k))))),
            h(
              'tbody',
              {},
              page.data.map((m) =>
                h('tr', { dataset: { manifest: m.id } }, h('td', {}, m.manifest_no), h('td', {}, m.plate), h('td', {}, m.declared_volume_m3 ?? '—'), h('td', {}, fmtTime(m.issued_at)), h('td', {}, t(`mstate_${m.state}`))),
              ),
            ),
          ),
        );
      } catch (error) {
        fill(listEl, errorBox(error));
      }
    }
    loadList();
    return null;
  },
};
