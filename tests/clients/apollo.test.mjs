// Apollo Client 4: HTTP for queries and mutations, GraphQLWsLink for subscriptions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { CREATE_PRODUCT, MESSAGE_EVENTS, SHOP_QUERY, httpUrl, scene, send, waitFor, wsUrl } from './support.mjs';

function apollo(token) {
  const ws = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { token }, retryAttempts: 0, lazy: true });
  const http = new HttpLink({ uri: httpUrl, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    http,
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
}

test('Apollo Client runs a query, a mutation and a live subscription', async () => {
  const { owner, customer, shopId, slug, conversationId } = await scene();
  const { client, ws } = apollo(owner.token);
  try {
    const me = await client.query({ query: gql`{ me { email } }`, fetchPolicy: 'no-cache' });
    assert.equal(me.data.me.email, owner.email);
    const shop = await client.query({ query: gql(SHOP_QUERY), variables: { slug }, fetchPolicy: 'no-cache' });
    assert.equal(shop.data.shop.id, shopId);
    assert.deepEqual(shop.data.shop.products.edges[0].node.price, { __typename: 'Money', amount: '9.00', currencyCode: 'USD' });
    const created = await client.mutate({ mutation: gql(CREATE_PRODUCT), variables: { input: { shopId, name: 'Hand grinder', price: '59' } } });
    assert.equal(created.data.createProduct.product.price.amount, '59.00');

    await send(customer.token, conversationId, 'first');
    const replayed = waitFor(10_000, 'the replayed message');
    const live = waitFor(10_000, 'the live message');
    const subscription = client.subscribe({ query: gql(MESSAGE_EVENTS), variables: { id: conversationId } }).subscribe({
      next: ({ data }) => {
        const message = data?.messageEvents?.message;
        if (message?.seq === 1) replayed.resolve(message);
        if (message?.seq === 2) live.resolve(message);
      },
      error: (error) => live.reject(error),
    });
    await replayed.promise;
    await send(customer.token, conversationId, 'do you ship today?');
    assert.equal((await live.promise).text, 'do you ship today?');
    subscription.unsubscribe();
  } finally {
    client.stop();
    await ws.dispose();
  }
});

test('Apollo Client exposes extensions.code', async () => {
  const { client, ws } = apollo(undefined);
  try {
    await assert.rejects(
      client.mutate({ mutation: gql`mutation { createShop(input: { slug: "apollo-anon", name: "x", currencyCode: "USD" }) { shop { id } } }` }),
      (error) => {
        assert.ok(CombinedGraphQLErrors.is(error), `unexpected error ${error}`);
        assert.equal(error.errors[0].extensions.code, 'UNAUTHENTICATED');
        return true;
      },
    );
  } finally {
    client.stop();
    await ws.dispose();
  }
});
