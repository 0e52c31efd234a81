// Every view of the console, in menu order: one ES module per view, each exporting
//   default { id, title (i18n key), roles: [Role values], menu?: false, render(main, ctx) }
// where render may return a cleanup function (called when the user leaves the view).
// ctx = { user (GET /auth/me), params (hash query), navigate(viewId, params), t }.
// Add a view: write views/<name>.js, import it here, add it to VIEWS (and its i18n keys).

import account from './account.js';
import cases from './cases.js';
import dashboard from './dashboard.js';
import dispatcher from './dispatcher.js';
import facility from './facility.js';
import monitoring from './monitoring.js';
import permits from './permits.js';
import reports from './reports.js';
import replay from './replay.js';
import review from './review.js';

export const VIEWS = [monitoring, replay, review, cases, reports, permits, facility, dispatcher, dashboard, account];

// The page each role lands on after log-in (else its first menu entry).
export const ROLE_HOME = {
  admin: 'monitoring',
  permit_officer: 'monitoring',
  enforcement_officer: 'review',
  haulier: 'monitoring',
  facility_operator: 'facility',
  site_dispatcher: 'dispatcher',
  viewer: 'dashboard',
};
