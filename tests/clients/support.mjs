// Shared fixtures: the server under test and data made through plain HTTP,
// so each client test only exercises its own client.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

const base = process.env.CHATSHOP_URL;
if (!base) {
  throw new Error('set CHATSHOP_URL to a running Chatshop server, e.g. http://127.0.0.1:8000');
}
export const httpUrl = `${base}/graphql`;
export const wsUrl = `${base.replace(/^http/, 'ws')}/graphql/ws`;
export const PASSWORD = 'correct horse battery';

/** A plain GraphQL call; fails the test on any error. */
export async function gql(query, variables = {}, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(httpUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

export function unique(prefix) {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function signUp(label) {
  const email = `${unique(label)}@example.com`;
  const data = await gql(
    'mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email } } }',
    { input: { email, name: label, password: PASSWORD } },
  );
  return { token: data.signUp.token, id: data.signUp.user.id, email };
}

/** A shop with an owner, a product, and a customer in conversation with it. */
export async function scene() {
  const owner = await signUp('owner');
  const customer = await signUp('customer');
  const slug = unique('shop');
  const shop = await gql(
    'mutation($input: CreateShopInput!) { createShop(input: $input) { shop { id slug } } }',
    { input: { slug, name: 'Client test shop', currencyCode: 'USD', hosted: true } },
    owner.token,
  );
  const shopId = shop.createShop.shop.id;
  await gql(
    'mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } } }',
    { input: { shopId, name: 'Ceramic mug', price: '9.00', stock: 5 } },
    owner.token,
  );
  const started = await gql(
    'mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }',
    { input: { shopId } },
    customer.token,
  );
  return { owner, customer, shopId, slug, conversationId: started.startConversation.conversation.id };
}

export async function send(token, conversationId, text) {
  const data = await gql(
    'mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq text } } }',
    { input: { conversationId, text } },
    token,
  );
  return data.sendMessage.message;
}

/** Resolves with the first value `predicate` accepts, or fails after `ms`. */
export function waitFor(ms, what) {
  let resolve;
  let reject;
  const promise = new Promise((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  return {
    promise,
    resolve: (value) => {
      clearTimeout(timer);
      resolve(value);
    },
    reject: (error) => {
      clearTimeout(timer);
      reject(error);
    },
  };
}

export const MESSAGE_EVENTS = 'subscription($id: ID!) { messageEvents(conversationId: $id) { type message { seq text } } }';
export const SHOP_QUERY = 'query($slug: String!) { shop(slug: $slug) { id name products(first: 10) { edges { node { name price { amount currencyCode } } } } } }';
export const CREATE_PRODUCT = 'mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id name price { amount currencyCode } } } }';
