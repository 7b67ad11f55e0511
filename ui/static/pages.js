// pages.js — the behaviour of sessiond's pages (login, signup, devices).
// Every value from outside goes into the page through textContent, never
// innerHTML, so a crafted user agent cannot inject markup.
import sessiond from '/ui/sessiond.js';

const $ = (sel) => document.querySelector(sel);

function showError(msg) {
  const el = $('#error');
  el.textContent = msg;
  el.hidden = !msg;
}

function showStatus(msg) {
  const el = $('#status') || $('#notice');
  if (!el) return;
  el.textContent = msg;
  el.hidden = !msg;
}

// goLogin opens the login page, saying why when there is a reason. replace:
// the page is left because there is no session, so Back must not return
// to it (it would only send the user on again).
function goLogin(reason, replace = false) {
  const url = '/ui/login' + (reason ? '?reason=' + encodeURIComponent(reason) : '');
  if (replace) location.replace(url);
  else location.assign(url);
}

// config is what the server tells its pages (GET /ui/config.json):
// {signup: bool}; null when it could not be read. Once read, the body says
// whether signup is on (data-signup="true", "false" or "unknown").
async function config() {
  let c = null;
  try {
    const res = await fetch('/ui/config.json', { credentials: 'same-origin', cache: 'no-store' });
    if (res.ok) c = await res.json();
  } catch { /* offline, or the server is away */ }
  document.body.dataset.signup = c ? String(c.signup === true) : 'unknown';
  return c;
}

// A form field left empty or too short gets a readable message before any
// request is sent; the server's own error_description covers the rest.
function checkForm(form) {
  for (const input of form.querySelectorAll('input')) {
    input.removeAttribute('aria-invalid');
  }
  for (const input of form.querySelectorAll('input')) {
    if (!input.checkValidity()) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      const label = form.querySelector('label[for="' + input.id + '"]').textContent;
      if (input.validity.valueMissing) return label + ' is required.';
      if (input.validity.typeMismatch) return label + ' must be an email address.';
      if (input.validity.tooShort) return label + ' must be at least ' + input.minLength + ' characters.';
      return label + ' is not valid.';
    }
  }
  return '';
}

function busy(form, on) {
  for (const el of form.querySelectorAll('input, button')) el.disabled = on;
  form.setAttribute('aria-busy', String(on));
}

// returnTo is the return_to this page was opened with ('' if none): the
// page to go back to once logged in. The server checked it before it served
// this page (a refused one is a 400), and /ui/continue checks it again and
// sends the browser there; the rule lives in the server alone.
function returnTo() {
  return new URLSearchParams(location.search).get('return_to') || '';
}

function withReturnTo(path) {
  const rt = returnTo();
  return rt ? path + '?return_to=' + encodeURIComponent(rt) : path;
}

function nextPage() {
  return returnTo() ? withReturnTo('/ui/continue') : '/ui/devices';
}

// keepReturnTo makes the links between the login and signup pages carry
// return_to along, so signing up first still ends on the page asked for.
function keepReturnTo(link) {
  if (link && returnTo()) link.href = withReturnTo(link.pathname);
}

function initLogin() {
  const reasons = {
    'logged-out': 'You have been logged out.',
    'expired': 'Your session ended. Please log in again.',
    'account-deleted': 'Your account was deleted.',
  };
  const reason = new URLSearchParams(location.search).get('reason');
  if (reason && Object.hasOwn(reasons, reason)) showStatus(reasons[reason]);
  // Offer signing up only when the server says it accepts signups.
  config().then((c) => {
    if (c && c.signup === true) $('#signup-link').hidden = false;
    if (c && c.password_reset === true) $('#forgot-link').hidden = false;
  });
  keepReturnTo($('#signup-link a'));
  const form = $('#login-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError('');
    showStatus('');
    const problem = checkForm(form);
    if (problem) return showError(problem);
    busy(form, true);
    try {
      await sessiond.login(form.email.value, form.password.value);
      location.assign(nextPage());
    } catch (err) {
      busy(form, false);
      showError(err.message);
      form.password.select();
      form.password.focus();
    }
  });
}

async function initSignup() {
  const form = $('#signup-form');
  keepReturnTo($('a[href="/ui/login"]'));
  const c = await config();
  if (c && c.signup === false) {
    // No form to fill in for nothing: say so instead.
    form.remove();
    $('#signup-off').hidden = false;
    return;
  }
  // Signup is on (or the server could not say: then it answers the form).
  form.hidden = false;
  if (!document.activeElement || document.activeElement === document.body) form.email.focus();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError('');
    const problem = checkForm(form);
    if (problem) return showError(problem);
    busy(form, true);
    try {
      await sessiond.signup(form.email.value, form.password.value);
      await sessiond.login(form.email.value, form.password.value);
      location.assign(nextPage());
    } catch (err) {
      busy(form, false);
      showError(err.message);
    }
  });
}

// BIDI_CONTROLS are the Unicode bidirectional formatting characters: the
// embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069 and
// the marks U+200E, U+200F and U+061C. In a user agent they serve only to
// make text display other than it reads ("exe.gnp" shown as "pnge.exe").
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

// stripBidi returns s without bidirectional formatting characters.
export function stripBidi(s) {
  return s.replace(BIDI_CONTROLS, '');
}

// describeAgent turns a User-Agent header into "Browser on OS". Hand-written
// and small on purpose: a page needs a readable label, not a device database.
export function describeAgent(ua) {
  ua = stripBidi(ua || '');
  if (!ua) return 'Unknown device';
  const browsers = [
    [/Edg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
    [/OPR\/(\d+)/, 'Opera'],
    [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
    [/Firefox\/(\d+)/, 'Firefox'],
    [/FxiOS\/(\d+)/, 'Firefox'],
    [/CriOS\/(\d+)/, 'Chrome'],
    [/HeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/Chrom(?:e|ium)\/(\d+)/, 'Chrome'],
    [/Version\/(\d+)[.\d]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
    [/^curl\/([\d.]+)/, 'curl'],
    [/^Go-http-client\/([\d.]+)/, 'Go HTTP client'],
  ];
  const systems = [
    [/Windows NT/, 'Windows'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Android/, 'Android'],
    [/CrOS/, 'ChromeOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Linux/, 'Linux'],
  ];
  let browser = '';
  for (const [re, name] of browsers) {
    const m = ua.match(re);
    if (m) { browser = name + ' ' + m[1]; break; }
  }
  let os = '';
  for (const [re, name] of systems) {
    if (re.test(ua)) { os = name; break; }
  }
  if (browser && os) return browser + ' on ' + os;
  if (browser || os) return browser || os;
  return ua.length > 40 ? ua.slice(0, 40) + '…' : ua;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

function ago(iso) {
  const secs = Math.round((new Date(iso) - Date.now()) / 1000);
  const abs = Math.abs(secs);
  if (abs < 60) return 'just now';
  if (abs < 3600) return relFmt.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return relFmt.format(Math.round(secs / 3600), 'hour');
  return relFmt.format(Math.round(secs / 86400), 'day');
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function timeEl(iso, text) {
  return el('time', { datetime: iso, title: dateFmt.format(new Date(iso)), text });
}

function row(term, value) {
  return [el('dt', { text: term }), el('dd', {}, value)];
}

function renderSession(s) {
  const device = describeAgent(s.user_agent);
  // The device name (bidirectional controls already stripped) is also
  // isolated in a <bdi>, so right-to-left text in it cannot reorder what
  // follows, such as the "This device" badge.
  const title = el('h2', { class: 'device' }, el('bdi', { text: device }));
  if (s.current) title.append(' ', el('span', { class: 'badge', text: 'This device' }));
  const dl = el('dl');
  dl.append(...row('IP address', s.ip || 'unknown'));
  dl.append(...row('Signed in', timeEl(s.created_at, dateFmt.format(new Date(s.created_at)))));
  dl.append(...row('Last seen', timeEl(s.last_seen_at, ago(s.last_seen_at))));
  const button = s.current
    ? el('button', { type: 'button', class: 'revoke', 'data-id': s.id, 'data-current': 'true', text: 'Log out' })
    : el('button', { type: 'button', class: 'revoke', 'data-id': s.id, 'aria-label': 'Log out ' + device + ' (' + (s.ip || 'unknown IP') + ')', text: 'Log out' });
  return el('li', { class: s.current ? 'session current' : 'session', 'data-id': s.id, 'data-current': String(s.current) }, title, dl, button);
}

// loaded: the page has shown this session's devices. A 401 after that
// means the session ended while the page was open (the login page says
// so); a 401 before it means the visitor has no session (a first visit):
// the login page, quietly.
let loaded = false;
let accountShown = false;

function leave() {
  goLogin(loaded ? 'expired' : '', !loaded);
}

// reveal shows the page's controls once it is known whether to stay.
function reveal() {
  $('#devices').hidden = false;
  $('#logout').hidden = false;
}

// showAccount says who is signed in: the email of a built-in account, else
// the user id a service gave the session. The email also goes into the
// hidden username fields of the password forms, for password managers.
function showAccount(s) {
  for (const u of document.querySelectorAll('input.username')) u.value = s.email || '';
  const who = s.email || s.user_id;
  if (!who) return;
  $('#account-name').textContent = who;
  $('#account').hidden = false;
  accountShown = true;
  // Only a built-in account (the session carries its email) can be deleted here.
  $('#delete-section').hidden = !s.email;
}

// The list comes a page at a time (GET /v1/sessions?limit=&cursor=,
// oldest first): the page shows the first, and "Show more devices" fetches
// the next while the server has more (next_cursor). shown holds the
// sessions fetched so far, pages how many pages that took, so that a
// reload after an action fetches as many again.
const PAGE_SIZE = 100;
let shown = [];
let pages = 0;
let nextCursor = '';

function sessionsURL(cursor) {
  return '/v1/sessions?limit=' + PAGE_SIZE + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
}

function renderList() {
  const list = $('#sessions');
  const sorted = [...shown].sort((a, b) => (b.current - a.current) || (new Date(b.last_seen_at) - new Date(a.last_seen_at)));
  list.replaceChildren(...sorted.map(renderSession));
  list.setAttribute('aria-busy', 'false');
  $('#more').hidden = !nextCursor;
  $('#logout-others').disabled = shown.length < 2 && !nextCursor;
  document.body.dataset.loaded = String(Date.now());
}

// fetchPages fetches count pages from cursor on and adds them to into; it
// returns the response that ended it early (401 or a failure), else null.
async function fetchPages(cursor, count, into) {
  for (let i = 0; i < count; i++) {
    const res = await sessiond.fetch(sessionsURL(cursor));
    if (!res.ok) return res;
    const page = await res.json();
    const seen = new Set(into.map((s) => s.id));
    into.push(...page.sessions.filter((s) => !seen.has(s.id)));
    cursor = page.next_cursor || '';
    pages++;
    nextCursor = cursor;
    if (!cursor) break;
  }
  return null;
}

async function loadSessions() {
  const list = $('#sessions');
  list.setAttribute('aria-busy', 'true');
  // The session first: it settles the cookies (one refresh at most, or the
  // news that there is no session) before the list is asked for.
  if (!accountShown) {
    const me = await sessiond.fetch('/v1/session');
    if (me.status === 401) return leave();
    // Any other failure leaves the account line out; the list says why.
    if (me.ok) showAccount(await me.json());
  }
  const fresh = [];
  const want = Math.max(pages, 1);
  pages = 0;
  const res = await fetchPages('', want, fresh);
  if (res && res.status === 401) return leave();
  reveal();
  if (res) {
    showError((await sessiond.errorFrom(res)).message);
    return;
  }
  loaded = true;
  shown = fresh;
  renderList();
}

async function loadMore() {
  const more = $('#more');
  more.disabled = true;
  try {
    const res = await fetchPages(nextCursor, 1, shown);
    if (res && res.status === 401) return leave();
    if (res) throw await sessiond.errorFrom(res);
    renderList();
  } finally {
    more.disabled = false;
  }
}

// GONE: the page is navigating away; nothing more to do. KEPT: the user
// declined to give the password again; nothing was done.
const GONE = Symbol('gone');
const KEPT = Symbol('kept');

// askPassword asks for the password again in a modal dialog and proves it
// (sessiond.reauth), for an action refused because the session's last
// authentication is too old. It resolves to true once the session is
// re-authenticated, to false if the user cancels (Cancel, Escape). A
// wrong password is said in the dialog, which stays open for another try.
function askPassword() {
  const dialog = $('#reauth');
  const form = $('#reauth-form');
  const err = $('#reauth-error');
  const say = (msg) => { err.textContent = msg; err.hidden = !msg; };
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      form.removeEventListener('submit', submit);
      $('#reauth-cancel').removeEventListener('click', cancel);
      dialog.removeEventListener('close', closed);
      form.reset();
      say('');
      busy(form, false);
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    const submit = async (ev) => {
      ev.preventDefault();
      say('');
      const problem = checkForm(form);
      if (problem) return say(problem);
      busy(form, true);
      try {
        await sessiond.reauth(form.password.value);
        finish(true);
      } catch (e) {
        busy(form, false);
        if (e.status === 401 && e.code !== 'invalid_grant') {
          // The session itself is over: nothing to prove the password for.
          finish(false);
          leave();
          return;
        }
        say(e.code === 'invalid_grant' ? 'That is not your password. Try again.' : e.message);
        form.password.select();
        form.password.focus();
      }
    };
    const cancel = () => finish(false);
    const closed = () => finish(false); // Escape
    form.addEventListener('submit', submit);
    $('#reauth-cancel').addEventListener('click', cancel);
    dialog.addEventListener('close', closed);
    say('');
    dialog.showModal();
    form.password.focus();
  });
}

// withReauth runs fn (an action that resolves to a Response or throws an
// APIError); when the server refuses it because the session's last
// authentication is too old, it asks for the password and runs fn once
// more. It resolves to what fn last resolved to, or KEPT if the user
// declined.
async function withReauth(fn) {
  let out;
  try {
    out = await fn();
  } catch (err) {
    if (!(await sessiond.needsReauth(err))) throw err;
    out = err;
  }
  if (!(out instanceof Error) && !(await sessiond.needsReauth(out))) return out;
  if (!(await askPassword())) return KEPT;
  return fn();
}

function initDevices() {
  sessiond.onLogout(() => goLogin('logged-out'));
  const act = async (fn, done) => {
    showError('');
    try {
      const res = fn ? await withReauth(fn) : null;
      if (res === GONE) return;
      if (res === KEPT) {
        showStatus('Nothing was changed.');
        return;
      }
      if (res && res.status === 401) return leave();
      if (res && !res.ok) throw await sessiond.errorFrom(res);
      if (done) showStatus(done);
      await loadSessions();
    } catch (err) {
      showError(err.message);
    }
  };
  $('#sessions').addEventListener('click', (ev) => {
    const b = ev.target.closest('button.revoke');
    if (!b) return;
    if (b.dataset.current === 'true') {
      act(async () => { await sessiond.logout('local'); goLogin('logged-out'); return GONE; });
      return;
    }
    act(() => sessiond.fetch('/v1/sessions/' + encodeURIComponent(b.dataset.id), { method: 'DELETE' }), 'That device was logged out.');
  });
  $('#reload').addEventListener('click', () => act(null));
  $('#more').addEventListener('click', () => {
    showError('');
    loadMore().catch((err) => showError(err.message));
  });
  $('#logout').addEventListener('click', () => act(async () => { await sessiond.logout('local'); goLogin('logged-out'); return GONE; }));
  $('#logout-others').addEventListener('click', () => act(async () => {
    const r = await sessiond.logout('others');
    showStatus(r.revoked === 1 ? 'One other session was logged out.' : r.revoked + ' other sessions were logged out.');
  }));
  // "Log out everywhere" ends this session too: it asks first, in a modal
  // dialog (keyboard: Escape or Cancel keeps everything; focus starts on
  // Cancel, the harmless choice).
  const dialog = $('#confirm-global');
  const opener = $('#logout-global');
  opener.addEventListener('click', () => {
    showError('');
    dialog.returnValue = '';
    dialog.showModal();
  });
  $('#confirm-global-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('#confirm-global-ok').addEventListener('click', () => dialog.close('confirm'));
  dialog.addEventListener('close', () => {
    if (dialog.returnValue !== 'confirm') {
      opener.focus();
      return;
    }
    act(async () => { await sessiond.logout('global'); goLogin('logged-out'); return GONE; });
  });
  initPasswordForm();
  document.addEventListener('visibilitychange', () => { if (!document.hidden) loadSessions().catch((err) => showError(err.message)); });
  initAccountDeletion();
  loadSessions().catch((err) => { reveal(); showError(err.message); });
}

// initPasswordForm: "Change password" (POST /v1/password). The current
// password the user typed is proof enough of a recent authentication: if
// the server asks for one (STEP_UP), the page re-authenticates with it
// (sessiond.reauth) and retries, rather than ask for it a second time.
function initPasswordForm() {
  const form = $('#password-form');
  const err = $('#password-error');
  const say = (msg) => { err.textContent = msg; err.hidden = !msg; };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    say('');
    showError('');
    showStatus('');
    const problem = checkForm(form);
    if (problem) return say(problem);
    if (form.next.value !== form.repeat.value) {
      form.repeat.setAttribute('aria-invalid', 'true');
      form.repeat.focus();
      return say('The new passwords do not match.');
    }
    busy(form, true);
    const change = () => sessiond.changePassword(form.current.value, form.next.value);
    try {
      let r;
      try {
        r = await change();
      } catch (e) {
        if (!(await sessiond.needsReauth(e))) throw e;
        await sessiond.reauth(form.current.value);
        r = await change();
      }
      form.reset();
      busy(form, false);
      const n = r.revoked;
      showStatus('Your password was changed. ' + (n === 0 ? 'No other device was signed in.'
        : n === 1 ? 'One other device was logged out.' : n + ' other devices were logged out.'));
      await loadSessions();
    } catch (e) {
      busy(form, false);
      if (e.status === 401 && e.code !== 'invalid_grant') return leave();
      if (e.code === 'invalid_grant') {
        form.current.setAttribute('aria-invalid', 'true');
        form.current.select();
        form.current.focus();
        return say('The current password is not right.');
      }
      say(e.message);
    }
  });
}

// --- Deleting the account (the devices page) ---------------------------
// "Delete my account" asks first in a modal dialog, as "log out everywhere"
// does (Escape or Cancel keeps the account; focus starts on Cancel, the
// harmless choice). Confirmed, DELETE /v1/account ends every session of
// the account, every other tab hears it as a logout, and this tab goes to
// the login page, which says the account was deleted (Back does not lead
// here again). When the server wants a more recent login first, the
// password is asked for again (withReauth) and the deletion retried;
// declined, or refused otherwise (said in the page's error line), the
// account stays.
function initAccountDeletion() {
  const dialog = $('#confirm-delete');
  const opener = $('#delete-account');
  opener.addEventListener('click', () => {
    showError('');
    dialog.returnValue = '';
    dialog.showModal();
  });
  $('#confirm-delete-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('#confirm-delete-ok').addEventListener('click', () => dialog.close('confirm'));
  dialog.addEventListener('close', async () => {
    if (dialog.returnValue !== 'confirm') {
      opener.focus();
      return;
    }
    opener.disabled = true;
    try {
      const r = await withReauth(() => sessiond.deleteAccount());
      if (r === KEPT) {
        opener.disabled = false;
        showStatus('Nothing was changed.');
        opener.focus();
        return;
      }
      goLogin('account-deleted', true);
    } catch (err) {
      opener.disabled = false;
      if (err.status === 401) return leave();
      showError(err.message);
      opener.focus();
    }
  });
}

const init = { login: initLogin, signup: initSignup, devices: initDevices }[document.body.dataset.page];
if (init) init();
