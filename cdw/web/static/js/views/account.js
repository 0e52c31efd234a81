// My account: who I am, my role and binding, and a password change (POST /auth/me/password),
// showing the API's field errors next to the inputs.

import { errorBox, post, setToken, showFieldErrors } from '../api.js';
import { clear, h } from '../dom.js';
import { t } from '../i18n.js';

const ALL = ['admin', 'permit_officer', 'enforcement_officer', 'facility_operator', 'site_dispatcher', 'haulier', 'viewer'];

export default {
  id: 'account',
  title: 'view_account',
  roles: ALL,
  render(main, { user }) {
    const binding = user.facility_id
      ? `${t('party_facility')} #${user.facility_id}`
      : user.site_id
        ? `${t('party_site')} #${user.site_id}`
        : user.haulier_id
          ? `${t('party_haulier')} #${user.haulier_id}`
          : t('none');
    const errors = h('div', { class: 'form-errors' });
    const form = h(
      'form',
      { class: 'card form', id: 'password-form' },
      h('h3', {}, t('change_password')),
      h('label', {}, t('current_password'), h('input', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true })),
      h('label', {}, t('new_password'), h('input', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true })),
      errors,
      h('button', { type: 'submit', class: 'primary' }, t('save')),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(errors);
      const data = Object.fromEntries(new FormData(form));
      try {
        await post('auth/me/password', data);
        setToken(null);
        errors.append(h('p', { class: 'ok' }, t('password_changed')));
        setTimeout(() => location.reload(), 1200);
      } catch (error) {
        showFieldErrors(form, error);
        errors.append(errorBox(error));
      }
    });
    main.append(
      h(
        'section',
        { class: 'page narrow' },
        h('h2', {}, t('view_account')),
        h(
          'dl',
          { class: 'card facts' },
          h('dt', {}, t('username')), h('dd', { id: 'account-username' }, user.username),
          h('dt', {}, t('full_name')), h('dd', {}, user.full_name || '—'),
          h('dt', {}, t('role')), h('dd', { id: 'account-role' }, t(`role_${user.role}`)),
          h('dt', {}, t('binding')), h('dd', {}, binding),
        ),
        form,
      ),
    );
  },
};
