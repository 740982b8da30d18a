// Drives the admin dashboard in real headless Chromium (Debian's) through Playwright
// (playwright-core from npm), with JavaScript turned off in the page: the dashboard must work
// without it. Signs in as an admin, grants credits, invites a sign-up, finds a failed
// generation, exports and downloads the training data; a non-admin gets 403 on every page and
// a form posted without its CSRF token is refused. Screenshots of each page go to OUT.
//
// env: BASE (server URL), CHROMIUM (browser), OUT (screenshot folder), ADMIN, USER, PASSWORD,
// FAILURE (a failed generation's message).
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const { BASE, CHROMIUM, OUT, ADMIN, USER, PASSWORD, FAILURE } = process.env;
const PAGES = ['/admin', '/admin/users', '/admin/signups', '/admin/generations', '/admin/credits',
  '/admin/revenue', '/admin/training', '/admin/reports'];

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function signIn(context, email) {
  const page = await context.newPage();
  await page.goto(`${BASE}/admin`);
  check(page.url().endsWith('/admin/login'), `not sent to sign in: ${page.url()}`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  return page;
}

(async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const shot = async (page, name) => page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const login = await context.newPage();
  await login.goto(`${BASE}/admin/login`);
  await shot(login, 'login');
  await login.close();

  const page = await signIn(context, ADMIN);
  check(page.url() === `${BASE}/admin`, `after sign-in: ${page.url()}`);
  check((await page.content()).includes('<svg'), 'the overview has its charts');
  await shot(page, 'overview');

  // Grant credits to the user.
  await page.goto(`${BASE}/admin/users?q=${encodeURIComponent(USER)}`);
  await page.fill(`input[aria-label="Credits for ${USER}"]`, '25');
  await page.fill(`input[aria-label="Reason for ${USER}"]`, 'storyboard contest');
  await page.click('button:has-text("Grant")');
  check((await page.textContent('body')).includes(`Granted 25 credits to ${USER}`), 'grant confirmed');
  await shot(page, 'users');

  // Invite a sign-up.
  await page.goto(`${BASE}/admin/signups`);
  const boxes = await page.$$('input[type=checkbox][name=email]');
  check(boxes.length >= 2, `sign-ups to invite: ${boxes.length}`);
  await boxes[0].check();
  await page.click('button:has-text("Invite selected")');
  check((await page.textContent('body')).includes('Invited 1'), 'invitation confirmed');
  await shot(page, 'signups');

  // The failed generation, with its message.
  await page.goto(`${BASE}/admin/generations`);
  check((await page.textContent('body')).includes(FAILURE), 'the failure is listed');
  await shot(page, 'generations');
  for (const name of ['credits', 'revenue', 'reports']) {
    await page.goto(`${BASE}/admin/${name}`);
    await shot(page, name);
  }

  // Export the training data and download it.
  await page.goto(`${BASE}/admin/training`);
  await page.click('button:has-text("Export all records as JSONL")');
  let link = null;
  for (let i = 0; i < 100 && !link; i++) {
    await page.goto(`${BASE}/admin/training`);
    link = await page.$('a:has-text("Download JSONL")');
    if (!link) await new Promise((r) => setTimeout(r, 100));
  }
  check(link, 'the export finished');
  await shot(page, 'training');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const file = path.join(OUT, 'export.jsonl');
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  check(lines.length >= 1, 'the export has records');
  lines.forEach((l) => JSON.parse(l));

  // A form without its CSRF token is refused.
  const forged = await page.request.post(`${BASE}/admin/users/grant`, { form: { user_id: '1', credits: '1000' } });
  check(forged.status() === 403, `a form without CSRF: ${forged.status()}`);

  // A non-admin: 403 on every page.
  const other = await browser.newContext({ javaScriptEnabled: false });
  const theirs = await signIn(other, USER);
  for (const p of PAGES) {
    const answer = await theirs.goto(`${BASE}${p}`);
    check(answer.status() === 403, `${p} for a non-admin: ${answer.status()}`);
  }
  await shot(theirs, 'forbidden');

  // The landing page reads well on a laptop and on a phone: nothing wider than the screen, the
  // JOIN BETA button within it.
  for (const [name, viewport] of [['landing-desktop', { width: 1280, height: 900 }], ['landing-phone', { width: 390, height: 844 }]]) {
    const view = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const landing = await view.newPage();
    await landing.goto(`${BASE}/`);
    await landing.waitForLoadState('load');
    const { scrollWidth, button } = await landing.evaluate(() => {
      const b = document.querySelector('button').getBoundingClientRect();
      return { scrollWidth: document.documentElement.scrollWidth, button: { left: b.left, right: b.right } };
    });
    check(scrollWidth <= viewport.width, `${name}: page ${scrollWidth}px wide on a ${viewport.width}px screen`);
    check(button.left >= 0 && button.right <= viewport.width, `${name}: JOIN BETA off screen ${JSON.stringify(button)}`);
    await landing.screenshot({ path: path.join(OUT, `${name}.png`) });
    await view.close();
  }
  await browser.close();
  console.log(JSON.stringify({ ok: true, exported: lines.length }));
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
