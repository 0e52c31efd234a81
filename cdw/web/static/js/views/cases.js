// Cases (enforcement officers): the list (GET /enforcement/cases), a case with its 一案三查
// parties (haulier, driver, site, facility, dumping place) and their state, its flags, documents
// and history; its next actions (investigate, decide, close, withdraw) with the API's field errors
// on the form; the printable case report (HTML, downloaded with the bearer token).

import { errorBox, get, post, request, showFieldErrors } from '../api.js';
import { clear, fill, h, hashFor } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';

const NEXT = {
  open: ['investigate', 'withdraw'],
  investigating: ['decide', 'withdraw'],
  decided: ['close'],
  closed: [],
  withdrawn: [],
};
const FIELDS_OF = {
  investigate: ['reason'],
  decide: ['penalty_amount_yuan', 'legal_basis', 'decision_text', 'reason'],
  close: ['reason'],
  withdraw: ['reason'],
};

function party(labelKey, ref) {
  return [
    h('dt', {}, t(labelKey)),
    h('dd', { dataset: { party: labelKey } }, ref ? `${ref.name || '—'} (#${ref.id})` : h('span', { class: 'muted' }, t('none'))),
  ];
}

function fieldInput(name) {
  if (name === 'penalty_amount_yuan') return h('input', { name, type: 'number', min: 0, step: '0.01', inputmode: 'decimal' });
  if (name === 'decision_text' || name === 'reason') return h('textarea', { name, rows: 2, maxlength: name === 'reason' ? 2000 : 4000 });
  return h('input', { name, type: 'text', maxlength: 2000 });
}

const LABEL_OF_FIELD = { penalty_amount_yuan: 'penalty', legal_basis: 'legal_basis', decision_text: 'decision_text', reason: 'reason' };

export default {
  id: 'cases',
  title: 'view_cases',
  roles: ['admin', 'enforcement_officer'],
  async render(main, { params, navigate }) {
    const layout = h('div', { class: `review${params.case ? ' has-detail' : ''}` });
    const listEl = h('div', { class: 'queue', id: 'case-list' });
    const detail = h('div', { class: 'detail', id: 'case-detail' }, h('p', { class: 'empty' }, t('select_flag')));
    layout.append(listEl, detail);
    main.append(layout);

    try {
      const page = await get('enforcement/cases', { limit: 200 });
      listEl.append(
        h('div', { class: 'status-line' }, t('count_of', { n: page.count })),
        page.data.length
          ? h(
              'table',
              { class: 'list' },
              h('thead', {}, h('tr', {}, h('th', {}, t('case_no')), h('th', {}, t('title')), h('th', {}, t('state')))),
              h(
                'tbody',
                {},
                page.data.map((c) =>
                  h(
                    'tr',
                    { class: `case-row${String(c.id) === params.case ? ' selected' : ''}`, dataset: { case: c.id, state: c.state }, onclick: () => navigate('cases', { case: c.id }) },
                    h('td', {}, c.case_no),
                    h('td', {}, c.title, h('div', { class: 'muted' }, c.vehicle || '')),
                    h('td', {}, pick(c.state_zh, c.state_en)),
                  ),
                ),
              ),
            )
          : h('p', { class: 'empty' }, t('no_cases')),
      );
    } catch (error) {
      listEl.append(errorBox(error));
    }
    if (!params.case) return null;

    let c;
    try {
      c = await get(`enforcement/cases/${Number(params.case)}`);
    } catch (error) {
      fill(detail, errorBox(error));
      return null;
    }
    const p = c.parties;
    const actionsEl = h('div', { id: 'case-actions' });
    for (const action of NEXT[c.state] || []) {
      const form = h(
        'form',
        { class: 'card form', dataset: { action } },
        h('h3', {}, t(`action_${action}`)),
        FIELDS_OF[action].map((name) => h('label', {}, t(LABEL_OF_FIELD[name]), fieldInput(name))),
        h('div', { class: 'form-errors' }),
        h('button', { type: 'submit', class: action === 'withdraw' ? 'danger' : 'primary', id: `case-${action}` }, t(`action_${action}`)),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const errors = form.querySelector('.form-errors');
        clear(errors);
        const body = {};
        for (const [name, value] of new FormData(form)) {
          if (name === 'penalty_amount_yuan') {
            if (value !== '') body[name] = Number(value);
          } else body[name] = value;
        }
        try {
          await post(`enforcement/cases/${c.id}/actions/${action}`, body);
          navigate('cases', { case: c.id, done: Date.now() });
        } catch (error) {
          showFieldErrors(form, error);
          errors.append(errorBox(error));
        }
      });
      actionsEl.append(form);
    }

    const reportButton = h('button', { type: 'button', id: 'case-report' }, t('case_report'));
    const reportResult = h('span', {});
    reportButton.addEventListener('click', async () => {
      clear(reportResult);
      try {
        const response = await request(`enforcement/cases/${c.id}/report`, { raw: true });
        const blob = new Blob([await response.text()], { type: 'text/html' });
        const link = h('a', { href: URL.createObjectURL(blob), download: `${c.case_no}.html`, id: 'case-report-link' }, `${c.case_no}.html`);
        reportResult.append(' ', link);
        link.click();
      } catch (error) {
        reportResult.append(errorBox(error));
      }
    });

    fill(detail, 
      h('button', { type: 'button', class: 'link only-narrow', onclick: () => navigate('cases') }, `← ${t('back')}`),
      h(
        'div',
        { class: 'card', id: 'case-head', dataset: { case: c.id, state: c.state } },
        h('h3', {}, `${c.case_no} · ${c.title}`),
        h('p', {}, h('span', { class: 'badge', id: 'case-state' }, pick(c.state_zh, c.state_en)), ' ', c.vehicle || '', ' · ', t('opened_at'), ' ', fmtTime(c.opened_at), ' · ', c.opened_by),
        c.penalty_amount_yuan != null ? h('p', {}, `${t('penalty')}: ${c.penalty_amount_yuan}`) : null,
        c.legal_basis ? h('p', {}, `${t('legal_basis')}: ${c.legal_basis}`) : null,
        c.decision_text ? h('p', {}, `${t('decision_text')}: ${c.decision_text}`) : null,
        h('div', { class: 'actions' }, reportButton, reportResult),
      ),
      h(
        'div',
        { class: 'card' },
        h('h3', {}, t('parties')),
        h(
          'dl',
          { class: 'facts', id: 'case-parties' },
          party('party_haulier', p.haulier),
          party('party_driver', p.driver),
          party('party_site', p.site),
          party('party_facility', p.facility),
          h('dt', {}, t('party_dumping')),
          h('dd', { dataset: { party: 'party_dumping' } }, p.dumping_location ? `${p.dumping_location.description || ''} (${p.dumping_location.lon?.toFixed(5)}, ${p.dumping_location.lat?.toFixed(5)})` : h('span', { class: 'muted' }, t('none'))),
        ),
      ),
      actionsEl,
      h(
        'div',
        { class: 'card' },
        h('h3', {}, t('case_flags')),
        c.flags.map((f) =>
          h(
            'p',
            { dataset: { flag: f.id } },
            h('span', { class: 'sev high' }, f.severity), ' ', pick(f.label_zh, f.label_en), ' · ', fmtTime(f.start), ' · ',
            h('a', { href: hashFor('replay', { plate: f.vehicle, start: new Date(new Date(f.start).getTime() - 3600e3).toISOString(), end: new Date(new Date(f.end).getTime() + 3600e3).toISOString(), flag: f.id }) }, t('open_replay')),
          ),
        ),
      ),
      c.documents.length ? h('div', { class: 'card' }, h('h3', {}, t('documents')), c.documents.map((d) => h('p', {}, `${d.name} · ${d.uri}`))) : null,
      h('div', { class: 'card' }, h('h3', {}, t('history')), c.history.map((x) => h('p', { class: 'muted' }, `${fmtTime(x.at)} · ${x.actor} · ${x.action}${x.reason ? ` · ${x.reason}` : ''}`))),
    );
    return null;
  },
};
