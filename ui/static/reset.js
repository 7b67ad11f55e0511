// reset.js — the behaviour of the password-reset pages: /ui/forgot asks
// for a link by email, /ui/reset sets the new password with the token of
// the link. Neither needs a session.
import { errorFrom } from '/ui/sessiond.js';

const $ = (sel) => document.querySelector(sel);

function say(id, msg) {
  const el = $(id);
  el.textContent = msg;
  el.hidden = !msg;
}

function busy(form, on) {
  for (const el of form.querySelectorAll('input, button')) el.disabled = on;
  form.setAttribute('aria-busy', String(on));
}

async function postJSON(url, body) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
}

// check gives a readable message for an input the browser finds invalid.
function check(input, label) {
  input.removeAttribute('aria-invalid');
  if (input.checkValidity()) return '';
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  if (input.validity.valueMissing) return label + ' is required.';
  if (input.validity.typeMismatch) return label + ' must be an email address.';
  if (input.validity.tooShort) return label + ' must be at least ' + input.minLength + ' characters.';
  return label + ' is not valid.';
}

function initForgot() {
  const form = $('#forgot-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    say('#error', '');
    say('#notice', '');
    const problem = check(form.email, 'Email');
    if (problem) return say('#error', problem);
    busy(form, true);
    try {
      const res = await postJSON('/v1/password/forgot', { email: form.email.value });
      if (!res.ok) throw await errorFrom(res);
      // The same answer whether or not an account has this email.
      form.hidden = true;
      say('#notice', 'If an account has this email, we sent it a link to choose a new password. It works once and expires soon; check your spam folder too.');
    } catch (err) {
      busy(form, false);
      say('#error', err.message);
    }
  });
}

// tokenFromFragment reads #token=... and takes it out of the address bar
// and the history, so the token is not left where the page was.
function tokenFromFragment() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token;
}

function initReset() {
  // Another link opened in this tab changes only the fragment: start over.
  window.addEventListener('hashchange', () => location.reload());
  const token = tokenFromFragment();
  const form = $('#reset-form');
  if (!token) {
    $('#no-token').hidden = false;
    return;
  }
  form.hidden = false;
  form.password.focus();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    say('#error', '');
    const problem = check(form.password, 'New password');
    if (problem) return say('#error', problem);
    busy(form, true);
    try {
      const res = await postJSON('/v1/password/reset', { token, new_password: form.password.value });
      if (!res.ok) {
        const err = await errorFrom(res);
        if (err.code === 'invalid_grant') {
          // The link is dead: nothing more to try on this page.
          form.remove();
          $('#no-token').hidden = false;
        }
        throw err;
      }
      form.remove();
      say('#notice', 'Your password was changed, and every device logged in to your account was logged out.');
      $('#done').hidden = false;
      document.body.dataset.done = 'true';
    } catch (err) {
      if (form.isConnected) {
        busy(form, false);
        form.password.select();
      }
      say('#error', err.message);
    }
  });
}

const init = { forgot: initForgot, reset: initReset }[document.body.dataset.page];
if (init) init();
