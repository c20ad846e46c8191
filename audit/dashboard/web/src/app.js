import './style.css';
import { h, api, APIError } from './dom.js';
import { t, initialLang, setLang, lang } from './i18n.js';
import { flowsPage, resetFlows } from './flows.js';
import { timelinePage, resetTimeline } from './timeline.js';
import { recordPage } from './record.js';
import { rulesPage } from './rules.js';
import { healthPage } from './health.js';

let session = null;

// loggedOut ends the session in the page: the next one, perhaps another
// person's with another role, starts without this one's filters.
function loggedOut() {
  session = null;
  resetFlows();
  resetTimeline();
}

const pages = [
  ['flows', 'nav.flows'], ['timeline', 'nav.timeline'], ['rules', 'nav.rules'], ['health', 'nav.health'],
];

function chrome() {
  document.title = 'tdsc · ' + t('title');
  document.querySelector('.skip').textContent = t('skip');
  document.getElementById('brand').textContent = 'tdsc · ' + t('title');
  const langBtn = document.getElementById('lang');
  langBtn.textContent = t('lang');
  langBtn.setAttribute('aria-label', t('langLabel'));
  langBtn.setAttribute('lang', lang() === 'zh' ? 'en' : 'zh-CN');
  const nav = document.getElementById('nav');
  const logout = document.getElementById('logout');
  logout.textContent = t('logout');
  const who = document.getElementById('who');
  if (!session) {
    nav.hidden = true; logout.hidden = true; who.textContent = '';
    return;
  }
  const cur = (location.hash.replace(/^#\//, '').split('/')[0]) || 'flows';
  nav.hidden = false; logout.hidden = false;
  who.textContent = t('who', session.id, t('role.' + session.role));
  nav.replaceChildren(h('ul', {}, pages.map(([p, k]) => h('li', {},
    h('a', { href: '#/' + p, 'aria-current': cur === p ? 'page' : null, 'data-page': p }, t(k))))));
}

function loginPage(main, message) {
  const ta = h('textarea', { id: 'token', name: 'token', rows: 5, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'login-intro' });
  const err = h('p', { id: 'login-error', class: 'bad', role: 'alert' }, message || '');
  main.replaceChildren(h('section', { class: 'login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', tabindex: -1 }, t('login.title')),
    h('p', { id: 'login-intro' }, t('login.intro')),
    h('form', {
      id: 'login-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = '';
        try {
          session = await api('login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: ta.value.trim() }) });
          ta.value = '';
          if (!location.hash || location.hash === '#/login') location.hash = '#/flows';
          else route();
        } catch (e) {
          err.textContent = t('login.failed', e.message);
        }
      },
    },
    h('label', { for: 'token' }, t('login.token')), ta,
    h('button', { type: 'submit', id: 'login-submit' }, t('login.submit'))),
    err));
}

// Navigations overlap: a page may still be loading when the person moves on or
// logs out. started counts navigations, shown is the last one drawn that was
// the latest when it finished; the latest started must be what stays on screen.
let started = 0, shown = 0;

async function route() {
  const nav = ++started;
  chrome();
  const main = document.getElementById('main');
  if (!session) { loginPage(main); focusHeading(main); shown = nav; return; }
  const [page, ...rest] = location.hash.replace(/^#\//, '').split('/');
  main.setAttribute('aria-busy', 'true');
  main.replaceChildren(h('p', { class: 'loading' }, t('loading')));
  try {
    switch (page) {
      case 'timeline': await timelinePage(main); break;
      case 'record': await recordPage(main, decodeURIComponent(rest.join('/'))); break;
      case 'rules': await rulesPage(main); break;
      case 'health': await healthPage(main, session); break;
      default: await flowsPage(main);
    }
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return; // the logged-out handler shows the login page
    main.replaceChildren(h('h1', { tabindex: -1 }, t('title')), h('p', { class: 'bad', role: 'alert' }, t('error', e.message)));
  } finally {
    main.removeAttribute('aria-busy');
  }
  if (nav !== started) {
    // A later navigation started while this page loaded; if it has already
    // been drawn, this page just replaced it: draw it again.
    if (shown === started) route();
    return;
  }
  shown = nav;
  focusHeading(main);
}

function focusHeading(main) {
  const h1 = main.querySelector('h1');
  if (h1 && document.activeElement && !main.contains(document.activeElement)) h1.focus({ preventScroll: true });
}

async function start() {
  initialLang();
  document.getElementById('lang').addEventListener('click', () => { setLang(lang() === 'zh' ? 'en' : 'zh'); route(); });
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('logout', { method: 'POST' }); } catch (e) { /* already out */ }
    loggedOut();
    location.hash = '#/login';
    route();
  });
  window.addEventListener('tdsc:logged-out', () => { loggedOut(); route(); });
  window.addEventListener('hashchange', route);
  try { session = await api('session'); } catch (e) { session = null; }
  route();
}

start();
