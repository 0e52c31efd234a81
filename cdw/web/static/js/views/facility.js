// Facility operator 消纳场: the manifests on their way (GET /manifests/expected), a receipt
// confirmed with the weighbridge figures (accepted, partially rejected, rejected), a receipt
// corrected (a new version, with its reason); a confirmation another operator made first
// answers 409, shown plainly as such.

import { errorBox, get, post, showFieldErrors } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';

const OUTCOMES = ['accepted', 'partially_rejected', 'rejected'];

function numberInput(name, step = '0.1') {
  return h('input', { name, type: 'number', min: 0, step, inputmode: 'decimal' });
}

function receiptForm(manifest, { correction = false, onDone }) {
  const outcome = h('select', { name: 'outcome' }, OUTCOMES.map((o) => h('option', { value: o }, t(`outcome_${o}`))));
  const fields = [
    h('label', {}, t('outcome'), outcome),
    h('label', {}, t('received_m3'), numberInput('received_volume_m3')),
    h('label', {}, t('weighbridge_t'), numberInput('weighbridge_t', '0.01')),
    h('label', {}, t('rejected_m3'), numberInput('rejected_volume_m3')),
    h('label', {}, t('reason'), h('input', { name: 'reason', maxlength: 500 })),
  ];
  if (correction) fields.push(h('label', {}, t('correction_reason'), h('input', { name: 'correction_reason', required: true, maxlength: 500 })));
  const errors = h('div', { class: 'form-errors' });
  const form = h(
    'form',
    { class: `card form ${correction ? 'correction-form' : 'receipt-form'}`, dataset: { manifest: manifest.id } },
    h('h3', {}, correction ? t('correct_receipt') : t('confirm_receipt'), ' ', h('span', { class: 'muted' }, manifest.manifest_no)),
    fields,
    errors,
    h('button', { type: 'submit', class: 'primary' }, correction ? t('correct_receipt') : t('confirm_receipt')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(errors);
    const body = {};
    for (const [name, value] of new FormData(form)) {
      if (value === '') continue;
      body[name] = ['received_volume_m3', 'weighbridge_t', 'rejected_volume_m3'].includes(name) ? Number(value) : value;
    }
    const path = `manifests/${manifest.id}/receipt${correction ? '/corrections' : ''}`;
    try {
      const receipt = await post(path, body);
      onDone(receipt);
    } catch (error) {
      showFieldErrors(form, error);
      if (error.status === 409) {
        errors.append(h('p', { class: 'conflict', id: 'receipt-conflict', role: 'alert' }, t('receipt_conflict')));
      }
      errors.append(errorBox(error));
    }
  });
  return form;
}

export default {
  id: 'facility',
  title: 'view_facility',
  roles: ['facility_operator'],
  async render(main, { params, navigate }) {
    const layout = h('div', { class: `review${params.manifest ? ' has-detail' : ''}` });
    const listEl = h('div', { class: 'queue', id: 'expected-list' });
    const detail = h('div', { class: 'detail', id: 'manifest-detail' });
    layout.append(listEl, detail);
    main.append(layout);
    try {
      const page = await get('manifests/expected');
      fill(
        listEl,
        h('h3', {}, t('expected_arrivals'), ' ', h('span', { class: 'muted' }, t('count_of', { n: page.count }))),
        page.data.length
          ? h(
              'table',
              { class: 'list' },
              h('thead', {}, h('tr', {}, ['manifest', 'plate', 'declared_m3', 'issued_at', 'state'].map((k) => h('th', {}, t(k))))),
              h(
                'tbody',
                {},
                page.data.map((m) =>
                  h(
                    'tr',
                    {
                      class: `manifest-row${String(m.id) === params.manifest ? ' selected' : ''}`,
                      dataset: { manifest: m.id, no: m.manifest_no },
                      onclick: () => navigate('facility', { manifest: m.id }),
                    },
                    h('td', {}, m.manifest_no),
                    h('td', {}, m.plate),
                    h('td', {}, m.declared_volume_m3 ?? '—'),
                    h('td', {}, fmtTime(m.issued_at)),
                    h('td', {}, t(`mstate_${m.state}`)),
                  ),
                ),
              ),
            )
          : h('p', { class: 'empty' }, t('no_expected')),
      );
    } catch (error) {
      fill(listEl, errorBox(error));
    }
    if (!params.manifest) {
      detail.append(h('p', { class: 'empty' }, t('select_manifest')));
      return null;
    }
    let manifest;
    try {
      manifest = await get(`manifests/${Number(params.manifest)}`);
    } catch (error) {
      fill(detail, errorBox(error));
      return null;
    }
    const done = h('div', { id: 'receipt-done' });
    const show = (receipt) =>
      fill(
        done,
        h(
          'p',
          { class: 'ok', role: 'status', dataset: { receipt: receipt.id, version: receipt.version } },
          t('receipt_saved', { v: receipt.version }),
          ' · ',
          pick(receipt.outcome_zh, receipt.outcome_en) || receipt.outcome,
        ),
      );
    detail.append(
      h(
        'div',
        { class: 'card' },
        h('h3', {}, manifest.manifest_no, ' ', h('span', { class: 'muted' }, pick(manifest.state_zh, manifest.state_en))),
        h(
          'dl',
          {},
          h('dt', {}, t('plate')),
          h('dd', {}, manifest.plate),
          h('dt', {}, t('haulier')),
          h('dd', {}, manifest.haulier_name),
          h('dt', {}, t('site')),
          h('dd', {}, manifest.site_name),
          h('dt', {}, t('declared_m3')),
          h('dd', {}, manifest.declared_volume_m3 ?? '—'),
          h('dt', {}, t('receipts')),
          h('dd', {}, manifest.receipts.length ? manifest.receipts.map((r) => `v${r.version} ${r.outcome} ${r.received_volume_m3 ?? ''}`).join('; ') : t('none')),
        ),
      ),
      done,
      manifest.receipts.length
        ? receiptForm(manifest, { correction: true, onDone: show })
        : receiptForm(manifest, { onDone: show }),
    );
    return null;
  },
};
