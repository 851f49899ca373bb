// urql 6: queries go out as GET when short (GraphQL over HTTP), subscriptions
// through graphql-ws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { CREATE_PRODUCT, MESSAGE_EVENTS, SHOP_QUERY, httpUrl, scene, send, waitFor, wsUrl } from './support.mjs';

function urql(token) {
  const ws = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { token }, retryAttempts: 0, lazy: true });
  const client = new Client({
    url: httpUrl,
    preferGetMethod: 'within-url-limit',
    fetchOptions: () => ({ headers: token ? { authorization: `Bearer ${token}` } : {} }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return { client, ws };
}

test('urql runs a query (over GET), a mutation and a live subscription', async () => {
  const { owner, customer, shopId, slug, conversationId } = await scene();
  const { client, ws } = urql(owner.token);
  try {
    const me = await client.query('{ me { email } }', {}, { requestPolicy: 'network-only' }).toPromise();
    assert.equal(me.error, undefined, String(me.error));
    assert.equal(me.data.me.email, owner.email);
    const shop = await client.query(SHOP_QUERY, { slug }, { requestPolicy: 'network-only' }).toPromise();
    assert.equal(shop.data.shop.id, shopId);
    const created = await client.mutation(CREATE_PRODUCT, { input: { shopId, name: 'Gift card', price: '25.00' } }).toPromise();
    assert.equal(created.error, undefined, String(created.error));
    assert.equal(created.data.createProduct.product.name, 'Gift card');

    await send(customer.token, conversationId, 'first');
    const replayed = waitFor(10_000, 'the replayed message');
    const live = waitFor(10_000, 'the live message');
    const { unsubscribe } = client.subscription(MESSAGE_EVENTS, { id: conversationId }).subscribe((result) => {
      if (result.error) live.reject(result.error);
      const message = result.data?.messageEvents?.message;
      if (message?.seq === 1) replayed.resolve(message);
      if (message?.seq === 2) live.resolve(message);
    });
    await replayed.promise;
    await send(customer.token, conversationId, 'can I pay here?');
    assert.equal((await live.promise).text, 'can I pay here?');
    unsubscribe();
  } finally {
    await ws.dispose();
  }
});

test('urql exposes extensions.code and field', async () => {
  const { client, ws } = urql(undefined);
  try {
    const result = await client
      .mutation('mutation($input: SignUpInput!) { signUp(input: $input) { token } }', {
        input: { email: 'not-an-email', name: 'x', password: 'correct horse battery' },
      })
      .toPromise();
    assert.equal(result.error.graphQLErrors[0].extensions.code, 'BAD_USER_INPUT');
    assert.equal(result.error.graphQLErrors[0].extensions.field, 'input.email');
  } finally {
    await ws.dispose();
  }
});
