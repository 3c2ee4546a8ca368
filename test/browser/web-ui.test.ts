import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createWorker, type CreateWorkerResult } from '../../workers/worker';
import { useDatabases } from '../helpers/databases';
import { assertPgTablesEqual } from '../helpers/guarantees';
import { pgUrl, testDb } from '../helpers/pg';
import { workflowBundle } from '../helpers/temporal';
import { DevServer } from '../helpers/temporal-server';
import { sleep } from '../helpers/worker-process';

/**
 * The Web UI start, in a real browser: Debian's Chromium, headless, driven
 * through the dev server's own UI on a private port. What a user does by
 * hand (README and docs/operations.md "From the Temporal Web UI") must keep working.
 */

const SRC = testDb('tablesync_it_webui_src');
const DST = testDb('tablesync_it_webui_dst');
const CHROMIUM = process.env.TABLESYNC_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT = join(__dirname, '..', '..', '..', 'test-output');
const TABLES = ['public.users', 'public.orders'];
// The README's input, with this file's tables.
const INPUT = { source: { connection: 'src' }, target: { connection: 'dst' }, tables: TABLES };

describe('Web UI: a sync started from the UI\'s own Start Workflow form, in headless Chromium', function () {
  let server: DevServer;
  let ui: string;
  let dir: string;
  let client: Client;
  let connection: Connection;
  let worker: CreateWorkerResult;
  let running: Promise<void>;
  let browser: BrowserContext;
  let page: Page;
  const { src, dst } = useDatabases({ pg: { src: SRC, dst: DST } });
  const taskQueue = `webui-${process.pid}`;

  const shot = (name: string) => page.screenshot({ path: join(OUTPUT, `web-ui-${name}.png`), fullPage: true });

  before(async function () {
    this.timeout(180_000);
    mkdirSync(OUTPUT, { recursive: true });
    await src.query(`CREATE TABLE users (id bigint PRIMARY KEY, name text, joined date)`);
    await src.query(`INSERT INTO users SELECT g, 'user ' || g, date '2024-01-01' + g FROM generate_series(1, 500) g`);
    await src.query(`CREATE TABLE orders (id int PRIMARY KEY, user_id bigint, total numeric(10,2))`);
    await src.query(`INSERT INTO orders SELECT g, g % 500 + 1, g * 1.5 FROM generate_series(1, 2000) g`);
    dir = mkdtempSync(join(tmpdir(), 'tablesync-webui-'));
    server = await DevServer.create(join(dir, 'dev.db'), { ui: true });
    await server.start();
    ui = `http://127.0.0.1:${server.uiPort}`;
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    worker = await createWorker({
      address: server.address,
      taskQueue,
      connections: { src: { url: pgUrl(SRC) }, dst: { url: pgUrl(DST) } },
      workflowBundle: await workflowBundle(),
      env: {},
    });
    running = worker.worker.run();
    browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1400, height: 1000 },
      timezoneId: 'UTC',
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(30_000);
    // The UI answers a little after the frontend does.
    for (let i = 0; ; i++) {
      const ok = await fetch(ui).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 100) throw new Error(`Web UI at ${ui} not answering:\n${server.logs()}`);
      await sleep(200);
    }
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close().catch(() => undefined);
    worker?.worker.shutdown();
    await running?.catch(() => undefined);
    await worker?.close();
    await connection?.close();
    await server?.stop('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) await shot(`failed-${this.currentTest.title.slice(0, 30).replace(/\W+/g, '-')}`);
  });

  it('starts incrementalSyncWorkflow with the README\'s JSON input, shows it completed and its child per table; target equals source', async function () {
    this.timeout(180_000);
    const workflowId = `webui-sync-${process.pid}`;
    await page.goto(`${ui}/namespaces/default/workflows/start-workflow`);
    await page.locator('#workflowId').fill(workflowId);
    await page.locator('#taskQueue').fill(taskQueue);
    await page.locator('#workflowType').fill('incrementalSyncWorkflow');
    // The input is a code editor: type into it as a user pastes.
    await page.locator('.cm-content').click();
    await page.keyboard.insertText(JSON.stringify(INPUT));
    // Leave the editor first: it reformats the JSON on blur, which moves the button under a pending click.
    await page.getByRole('heading', { name: 'Start a Workflow' }).click();
    await shot('start-form');
    await page.getByTestId('start-workflow-button').click();

    // The UI says it started the run and links to it; the run shows Completed once the sync is done.
    await page.getByRole('link', { name: 'Workflow started successfully' }).click();
    await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), { timeout: 30_000 });
    await waitForText(page, 'Completed', 120_000);
    await shot('completed');
    const description = await client.workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.taskQueue, taskQueue);

    // Its children, one per table, are listed and open.
    const child = `${workflowId}/public.orders`;
    await page.getByText('Relationships', { exact: false }).first().click();
    await page.getByRole('link', { name: child }).first().click();
    await page.waitForURL(new RegExp(encodeURIComponent(child).replace(/\./g, '\\.')));
    await waitForText(page, 'Completed', 30_000);
    await page.getByText('syncTableWorkflow').first().waitFor();
    await page.getByRole('link', { name: workflowId, exact: true }).first().waitFor(); // "Parent Workflow"
    await shot('child-public-orders');
    // Not only "syncTableWorkflow": the child's summary (User Metadata tab) names its table and mode.
    // (Its current details, which the UI shows there for a running workflow, are asserted through the client in web-ui-labels.test.)
    const metadataTab = () => page.getByText('User Metadata', { exact: true }).first().click();
    await metadataTab();
    await waitForText(page, 'public.orders · full', 30_000, metadataTab);
    await shot('child-metadata');

    for (const t of TABLES) await assertPgTablesEqual(src, dst, t);
  });

  it('lists a schedule created through the client, with its next run', async function () {
    this.timeout(120_000);
    const scheduleId = `webui-nightly-${process.pid}`;
    // As `tablesync schedule create` makes it: the run's input (connection names only), overlap skip,
    // runs named tablesync-<schedule id>-<time> (Temporal appends the time).
    const handle = await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: ['0 3 * * *'] },
      action: { type: 'startWorkflow', workflowType: 'incrementalSyncWorkflow', args: [INPUT], taskQueue, workflowId: `tablesync-${scheduleId}` },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    try {
      const next = (await handle.describe()).info.nextActionTimes[0];
      assert.ok(next, 'the schedule has a next run');
      // As the UI spells times in UTC: "2026-12-02 UTC 03:00:00.00".
      const iso = next.toISOString();
      const spelled = `${iso.slice(0, 10)} UTC ${iso.slice(11, 19)}.00`;
      await page.goto(`${ui}/namespaces/default/schedules`);
      const row = page.getByRole('row').filter({ hasText: scheduleId });
      await row.first().waitFor();
      await shot('schedules');
      const text = await row.first().innerText();
      assert.match(text, /incrementalSyncWorkflow/);
      assert.ok(text.includes(spelled), `next run ${spelled} in the Schedules row:\n${text}`);
      await row.getByRole('link', { name: scheduleId }).click();
      await waitForText(page, 'Upcoming Runs', 30_000);
      await shot('schedule');
      const body = await page.locator('body').innerText();
      assert.ok(body.includes(spelled), 'the schedule page lists the next run');
      assert.match(body, /"connection": "src"/, 'the schedule input carries connection names');
      assert.doesNotMatch(body, /postgres:\/\//, 'and never a URL');
    } finally {
      await handle.delete();
    }
  });
});

/** Waits until the page shows `text`, reloading now and then (the UI polls, but not always for every panel). */
async function waitForText(page: Page, text: string, timeoutMs: number, afterReload?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // In the page or in a frame: the UI renders a summary (markdown) in a frame of its own at times, inline at others.
      await Promise.any(page.frames().map((f) => f.getByText(text, { exact: true }).first().waitFor({ timeout: 5_000 })));
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await page.reload();
      await afterReload?.();
    }
  }
}
