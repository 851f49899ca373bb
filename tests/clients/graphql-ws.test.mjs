// graphql-ws 6 (with ws 8): the reference client of the protocol.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { MESSAGE_EVENTS, scene, send, waitFor, wsUrl } from './support.mjs';

function client(token) {
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { token }, retryAttempts: 0, lazy: true });
}

async function once(ws, query, variables = {}) {
  const results = [];
  for await (const result of ws.iterate({ query, variables })) {
    results.push(result);
  }
  return results;
}

test('graphql-ws runs a query, a mutation and a live subscription, with the token on the socket', async () => {
  const { owner, customer, shopId, slug, conversationId } = await scene();
  const ws = client(owner.token);
  try {
    const [me] = await once(ws, '{ me { email } }');
    assert.equal(me.data.me.email, owner.email);
    const [shop] = await once(ws, 'query($slug: String!) { shop(slug: $slug) { id } }', { slug });
    assert.equal(shop.data.shop.id, shopId);
    const [created] = await once(ws, 'mutation($input: CreateProductInput!) { createProduct(input: $input) { product { name } } }', {
      input: { shopId, name: 'Pour-over kit', price: '39.00' },
    });
    assert.equal(created.data.createProduct.product.name, 'Pour-over kit');

    await send(customer.token, conversationId, 'first');
    const replayed = waitFor(10_000, 'the replayed message');
    const live = waitFor(10_000, 'the live message');
    const unsubscribe = ws.subscribe(
      { query: MESSAGE_EVENTS, variables: { id: conversationId } },
      {
        next: (result) => {
          const message = result.data?.messageEvents?.message;
          if (message?.seq === 1) replayed.resolve(message);
          if (message?.seq === 2) live.resolve(message);
        },
        error: (error) => live.reject(error),
        complete: () => {},
      },
    );
    await replayed.promise;
    await send(customer.token, conversationId, 'is this in stock?');
    assert.equal((await live.promise).text, 'is this in stock?');
    unsubscribe();
  } finally {
    await ws.dispose();
  }
});

test('graphql-ws reads error codes, and a socket without a token is refused', async () => {
  const { customer, shopId } = await scene();
  const ws = client(customer.token);
  try {
    const [refused] = await once(ws, 'mutation($input: UpdateShopInput!) { updateShop(input: $input) { shop { id } } }', {
      input: { shopId, name: 'Mine now' },
    });
    assert.equal(refused.errors[0].extensions.code, 'FORBIDDEN');
  } finally {
    await ws.dispose();
  }
  const anonymous = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const closed = waitFor(10_000, 'the 4401 close');
  anonymous.subscribe({ query: '{ __typename }' }, { next: () => {}, error: (event) => closed.resolve(event), complete: () => {} });
  const event = await closed.promise;
  assert.equal(event.code, 4401);
  await anonymous.dispose();
});
