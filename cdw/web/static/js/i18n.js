// One dictionary for the whole console: key -> [zh-CN, English]. zh-CN first; the English
// switch is kept in localStorage. Views add their keys here (one list, no per-view copies).

const DICT = {
  app_title: ['建筑垃圾运输监管', 'Construction-waste supervision'],
  app_short: ['渣土监管', 'cdw'],
  loading: ['正在加载…', 'Loading…'],
  login: ['登录', 'Log in'],
  logout: ['退出', 'Log out'],
  username: ['用户名', 'Username'],
  password: ['密码', 'Password'],
  login_hint: ['使用系统账户登录', 'Log in with your cdw account'],
  language: ['English', '中文'],
  menu: ['菜单', 'Menu'],
  not_found_view: ['页面不存在', 'No such page'],
  no_menus: ['您的角色暂无可用页面', 'Your role has no pages yet'],
  network_error: ['无法连接服务器', 'Cannot reach the server'],
  error: ['错误', 'Error'],
  field: ['字段', 'field'],
  line: ['行', 'line'],
  save: ['保存', 'Save'],
  cancel: ['取消', 'Cancel'],
  search: ['搜索', 'Search'],
  apply: ['查询', 'Apply'],
  close: ['关闭', 'Close'],
  all: ['全部', 'All'],
  none: ['无', 'none'],
  day: ['日期', 'Day'],
  from: ['开始', 'From'],
  to: ['结束', 'To'],
  reason: ['理由', 'Reason'],
  count_of: ['共 {n} 条', '{n} in all'],
  yes: ['是', 'yes'],
  no: ['否', 'no'],
  map_no_roads: ['路网图层尚不可用', 'Road layer not available yet'],

  // roles (the API's Role values)
  role_admin: ['系统管理员', 'Administrator'],
  role_permit_officer: ['审批员', 'Permit officer'],
  role_enforcement_officer: ['执法队员', 'Enforcement officer'],
  role_facility_operator: ['消纳场操作员', 'Facility operator'],
  role_site_dispatcher: ['工地出场管理员', 'Site dispatcher'],
  role_haulier: ['运输企业', 'Haulier'],
  role_viewer: ['只读用户', 'Viewer'],

  // menus
  view_monitoring: ['实时监控', 'Monitoring'],
  view_replay: ['轨迹回放', 'Track replay'],
  view_review: ['审核队列', 'Review queue'],
  view_cases: ['案件', 'Cases'],
  view_account: ['我的账户', 'My account'],

  // vehicle states
  state_loaded: ['重车', 'loaded'],
  state_empty: ['空车', 'empty'],
  state_stopped: ['停车', 'stopped'],
  state_offline: ['离线', 'offline'],
  state_flagged: ['有预警', 'flagged'],
  load_reported: ['终端上报', 'reported'],
  load_inferred: ['推断', 'inferred'],

  // monitoring
  plate: ['车牌', 'Plate'],
  haulier: ['运输企业', 'Haulier'],
  permit: ['核准', 'Permit'],
  manifest: ['联单', 'Manifest'],
  speed: ['速度', 'Speed'],
  heading: ['方向', 'Heading'],
  time: ['时间', 'Time'],
  last_fix: ['最后定位', 'Last fix'],
  open_flags: ['未处理预警', 'Open flags'],
  alerts: ['预警', 'Alerts'],
  vehicles: ['车辆', 'Vehicles'],
  search_plate: ['按车牌搜索', 'Search by plate'],
  plate_not_found: ['未找到该车牌', 'No vehicle with this plate'],
  source_live: ['实时', 'live'],
  source_fallback: ['最近分析日 {day} 的最后位置（实时数据尚未接入）', 'last positions of the latest analysed day {day} (no live feed yet)'],
  no_positions: ['暂无车辆位置', 'No positions yet'],
  stream_on: ['实时推送已连接', 'live stream connected'],
  stream_off: ['无实时推送', 'no live stream'],
  open_replay: ['轨迹回放', 'Replay track'],
  open_evidence: ['查看证据', 'Evidence'],

  // replay
  vehicle: ['车辆', 'Vehicle'],
  window_start: ['开始时间', 'Start'],
  window_end: ['结束时间', 'End'],
  load_track: ['加载轨迹', 'Load track'],
  play: ['播放', 'Play'],
  pause: ['暂停', 'Pause'],
  playback_speed: ['倍速', 'Speed ×'],
  stops: ['停留', 'Stops'],
  gaps: ['信号中断', 'Gaps'],
  stop_label: ['停留 {min} 分钟', 'stop {min} min'],
  gap_label: ['信号中断 {min} 分钟', 'signal gap {min} min'],
  approved_route: ['核准路线', 'Approved route'],
  corridor: ['路线走廊', 'Corridor'],
  flags_on_track: ['轨迹上的预警', 'Flags on this track'],
  no_track: ['该时段无轨迹', 'No track in this window'],
  points: ['定位点', 'Fixes'],
  load_state: ['载重状态', 'Load'],
  legend: ['图例', 'Legend'],

  // review
  code: ['代码', 'Code'],
  severity: ['分值', 'Score'],
  min_severity: ['最低分值', 'Min. score'],
  status: ['状态', 'Status'],
  haulier_id: ['运输企业', 'Haulier'],
  explanation: ['说明', 'Explanation'],
  measured: ['实测值', 'Measured'],
  thresholds: ['阈值', 'Thresholds'],
  haulier_explanations: ['企业申诉', "Haulier's explanation"],
  no_explanations: ['企业未申诉', 'No explanation from the haulier'],
  dismiss: ['排除', 'Dismiss'],
  warn: ['警告', 'Warn'],
  open_case: ['立案', 'Open case'],
  case_title: ['案件标题', 'Case title'],
  reason_required: ['请填写理由', 'Give a reason'],
  done_dismissed: ['已排除', 'Dismissed'],
  done_warned: ['已警告', 'Warned'],
  done_case: ['已立案：{no}', 'Case opened: {no}'],
  queue_empty: ['队列为空', 'The queue is empty'],
  select_flag: ['请选择一条预警', 'Select a flag'],
  earlier_flags: ['此前预警', 'Earlier flags'],
  reviews: ['审核记录', 'Reviews'],
  back: ['返回', 'Back'],
  evidence: ['证据', 'Evidence'],

  // cases
  case_no: ['案号', 'Case no.'],
  title: ['标题', 'Title'],
  state: ['状态', 'State'],
  opened_at: ['立案时间', 'Opened'],
  parties: ['一案三查当事方', 'Parties (一案三查)'],
  party_haulier: ['运输企业', 'Haulier'],
  party_driver: ['驾驶员', 'Driver'],
  party_site: ['排放工地', 'Site'],
  party_facility: ['消纳场', 'Facility'],
  party_dumping: ['倾倒地点', 'Dumping place'],
  case_report: ['证据报告', 'Case report'],
  case_flags: ['涉案预警', 'Flags of the case'],
  history: ['记录', 'History'],
  documents: ['文件', 'Documents'],
  penalty: ['罚款（元）', 'Penalty (yuan)'],
  legal_basis: ['法律依据', 'Legal basis'],
  decision_text: ['决定书内容', 'Decision'],
  action_investigate: ['调查', 'Investigate'],
  action_decide: ['作出决定', 'Decide'],
  action_close: ['结案', 'Close'],
  action_withdraw: ['撤销', 'Withdraw'],
  no_cases: ['暂无案件', 'No cases'],

  // account
  full_name: ['姓名', 'Name'],
  role: ['角色', 'Role'],
  binding: ['绑定单位', 'Bound to'],
  change_password: ['修改密码', 'Change password'],
  current_password: ['当前密码', 'Current password'],
  new_password: ['新密码', 'New password'],
  password_changed: ['密码已修改，请重新登录', 'Password changed; log in again'],
};

const KEY = 'cdw.lang';
let lang = localStorage.getItem(KEY) === 'en' ? 'en' : 'zh';

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === 'en' ? 'en' : 'zh';
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/** The text of ``key`` in the current language, with ``{name}`` placeholders filled. */
export function t(key, vars = {}) {
  const pair = DICT[key];
  let text = pair ? pair[lang === 'zh' ? 0 : 1] : key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

/** Picks the API's own pair (``x_zh`` / ``x_en`` or ``zh`` / ``en``) in the current language. */
export function pick(zh, en) {
  return lang === 'zh' ? zh || en : en || zh;
}

export function hasKey(key) {
  return key in DICT;
}

/** Date-time shown in Asia/Shanghai (the bureau's clock), whatever the browser's zone. */
export function fmtTime(iso, withDate = true) {
  if (!iso) return '';
  const d = new Date(iso);
  const opts = { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  if (withDate) Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' });
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', opts);
}

setLang(lang);
