// The playground served by the real server, in a real browser: the demo
// story end to end in both panes, and the API explorer (a query, the schema
// docs, sign-in and a live subscription). Screenshots go to artifacts/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, BASE_URL, graphql, launch, openPage, signIn } from './support.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Nothing fetched from outside, no console errors, no uncaught exceptions. */
function assertClean(problems) {
  assert.deepEqual(problems.externalRequests, [], 'the page must not reach outside this machine');
  assert.deepEqual(problems.pageErrors, [], 'uncaught exceptions in the page');
  assert.deepEqual(problems.consoleErrors, [], 'console errors in the page');
}

test('the demo story: ask, answer, a declined card, payment, confirmation in both panes, fulfilment', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await page.goto(`${BASE_URL}/`);
    await page.waitForSelector('body[data-story="ready"]', { timeout: 20_000 });

    const customer = page.locator('#customer-pane');
    const agent = page.locator('#agent-pane');
    const nonce = Date.now().toString(36);

    // The catalog is the seeded shop's.
    assert.ok((await customer.locator('.product').count()) >= 5, 'the catalog lists the demo products');
    const product = customer.locator('.product').filter({ has: page.locator('.stock.in') }).first();
    const productName = await product.locator('.product-info strong').textContent();

    // The customer asks about a product, then writes; the agent sees both live.
    await product.locator('button.ask').click();
    await customer.locator('.composer input').fill(`Can you grind it for a moka pot? ${nonce}`);
    await customer.locator('.composer button').click();
    const question = agent.locator('.chat .msg', { hasText: `moka pot? ${nonce}` });
    await question.waitFor({ timeout: 10_000 });
    await agent.locator('.chat .product-ref', { hasText: productName }).last().waitFor();

    // The agent answers; the customer sees it live, and the question shows as read.
    await agent.locator('.composer input').fill(`Yes, we grind to order. ${nonce}`);
    await agent.locator('.composer button').click();
    await customer.locator('.chat .msg.theirs', { hasText: `grind to order. ${nonce}` }).waitFor({ timeout: 10_000 });
    await customer
      .locator('.chat .msg.own', { hasText: `moka pot? ${nonce}` })
      .locator('.msg-status.read')
      .waitFor({ timeout: 10_000 });

    // The customer orders one; an order card awaiting payment appears in both panes.
    const ordersBefore = await customer.locator('.order-card').count();
    await product.locator('input.qty').fill('1');
    await product.locator('button.order').click();
    await page.waitForFunction(
      (count) => document.querySelectorAll('#customer-pane .order-card').length > count,
      ordersBefore,
      { timeout: 10_000 },
    );
    const card = customer.locator('.order-card[data-status="PENDING_PAYMENT"]').last();
    const orderId = await card.getAttribute('data-order');
    assert.ok(orderId, 'the order card carries its order id');
    await agent.locator(`.order-card[data-order="${orderId}"][data-status="PENDING_PAYMENT"]`).first().waitFor({ timeout: 10_000 });

    // A declined card says so, and the order stays payable.
    await card.locator('select').selectOption('tok_decline');
    await card.locator('button.pay').click();
    const notice = customer.locator('.notice.error');
    await notice.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await notice.textContent(), /PAYMENT_FAILED.*card_declined/);
    assert.equal(await card.getAttribute('data-status'), 'PENDING_PAYMENT');

    // A good card pays; the confirmation lands in both panes, the order shows paid in both.
    await card.locator('select').selectOption('tok_success');
    await card.locator('button.pay').click();
    for (const pane of [customer, agent]) {
      await pane.locator(`.confirmation[data-order="${orderId}"]`).waitFor({ timeout: 10_000 });
      await pane.locator(`.order-card[data-order="${orderId}"][data-status="PAID"]`).first().waitFor({ timeout: 10_000 });
    }
    assert.equal(await notice.isVisible(), false, 'the error clears once the payment went through');

    // The owner's figures count the paid order.
    await page.waitForFunction(
      () => Number(document.querySelector('#agent-pane .usage [data-paid-orders]')?.dataset.paidOrders ?? 0) >= 1,
      null,
      { timeout: 10_000 },
    );

    // The agent fulfils; both panes follow.
    await agent.locator(`.order-card[data-order="${orderId}"] button.fulfil`).first().click();
    for (const pane of [customer, agent]) {
      await pane.locator(`.order-card[data-order="${orderId}"][data-status="FULFILLED"]`).first().waitFor({ timeout: 10_000 });
    }

    // Each pane lists the GraphQL it sent.
    await agent.locator('details.ops > summary').click();
    const sent = await agent.locator('.op-log .op').evaluateAll((ops) => ops.map((op) => op.dataset.operation));
    for (const name of ['SignIn', 'Inbox', 'InboxEvents', 'MessageEvents', 'SendMessage', 'FulfillOrder', 'Usage']) {
      assert.ok(sent.includes(name), `the agent pane lists ${name} (it lists ${sent.join(', ')})`);
    }

    // The live parts went over the playground's own WebSocket endpoint.
    assert.ok(problems.sockets.length >= 2, 'customer and agent each hold a socket');
    for (const socket of problems.sockets) {
      assert.equal(new URL(socket.url).pathname, '/graphql/ws');
      assert.ok(socket.received > 0, 'frames arrived on every socket');
    }

    await agent.locator('details.ops > summary').click();
    // Live updates may re-render the card while it scrolls into view.
    const fulfilled = customer.locator('.order-card[data-status="FULFILLED"]').last();
    for (let attempt = 1; ; attempt += 1) {
      try {
        await fulfilled.scrollIntoViewIfNeeded({ timeout: 2_000 });
        break;
      } catch (error) {
        if (attempt === 5) throw error;
      }
    }
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png') });
    assertClean(problems);
  } catch (error) {
    await page.screenshot({ path: join(ARTIFACTS, 'demo-failure.png') }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
});

test('the explorer: a query, the schema docs, sign-in, and a live subscription', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await page.goto(`${BASE_URL}/#explorer`);
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });

    const setQuery = (text) =>
      page.evaluate((value) => {
        document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(value);
      }, text).then(() => page.waitForTimeout(400)); // GraphiQL re-parses the editor after a short debounce
    const resultText = () => page.locator('.result-window').textContent();

    // A query over HTTP.
    await setQuery('query Catalog { shop(slug: "demo-coffee") { name products(first: 3) { edges { node { name price { amount currencyCode } } } } } }');
    await page.locator('.graphiql-execute-button').click();
    await page.waitForFunction(() => document.querySelector('.result-window')?.textContent.includes('Demo Coffee Roasters'), null, {
      timeout: 10_000,
    });
    assert.match(await resultText(), /"currencyCode": "USD"/);

    // The schema browser, built from introspection.
    await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('Subscription', { exact: true }).first().waitFor({ timeout: 10_000 });
    await docs.getByText('Subscription', { exact: true }).first().click();
    await docs.getByText('messageEvents', { exact: true }).first().waitFor();

    // Signing in puts the token into the Headers editor.
    await page.locator('[data-demo-user="customer"]').click();
    await page.locator('#explorer-auth-status', { hasText: 'Signed in as' }).waitFor({ timeout: 10_000 });
    await page.waitForSelector('.graphiql-container');
    await setQuery('query Me { me { email } }');
    await page.locator('.graphiql-execute-button').click();
    await page.waitForFunction(() => document.querySelector('.result-window')?.textContent.includes('customer@demo.chatshop.dev'), null, {
      timeout: 10_000,
    });

    // A subscription over graphql-transport-ws: a message sent over HTTP shows up live.
    const token = await signIn('customer@demo.chatshop.dev');
    const shop = await graphql('{ shop(slug: "demo-coffee") { id } }');
    const started = await graphql(
      'mutation ($input: StartConversationInput!) { startConversation(input: $input) { conversation { id lastSeq } } }',
      { input: { shopId: shop.shop.id } },
      token,
    );
    const { id, lastSeq } = started.startConversation.conversation;
    await setQuery(
      `subscription Live { messageEvents(conversationId: "${id}", afterSeq: ${lastSeq}) { type message { seq text } } }`,
    );
    await page.locator('.graphiql-execute-button').click();
    const text = `Sent while the explorer listens ${Date.now().toString(36)}`;
    // The subscription is live once the socket carried its subscribe message.
    await page.waitForFunction(() => document.querySelector('.graphiql-execute-button')?.getAttribute('aria-label')?.includes('Stop'), null, {
      timeout: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await graphql(
      'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { message { seq } } }',
      { input: { conversationId: id, text } },
      token,
    );
    await page.waitForFunction((expected) => document.querySelector('.result-window')?.textContent.includes(expected), text, {
      timeout: 10_000,
    });
    assert.match(await resultText(), /"type": "APPENDED"/);
    assert.ok(
      problems.sockets.some((socket) => new URL(socket.url).pathname === '/graphql/ws' && socket.received >= 2),
      'the subscription ran over the server WebSocket',
    );

    await page.screenshot({ path: join(ARTIFACTS, 'explorer.png') });
    await page.locator('.graphiql-execute-button').click(); // stop the subscription

    // History keeps what ran.
    await page.locator('.graphiql-sidebar button[aria-label="Show History"]').click();
    for (const name of ['Catalog', 'Me', 'Live']) {
      await page.locator('.graphiql-history-item', { hasText: name }).first().waitFor({ timeout: 5_000 });
    }
    assertClean(problems);
  } catch (error) {
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-failure.png') }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
});
