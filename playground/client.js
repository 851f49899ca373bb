// How the playground talks to the server: GraphQL over HTTP at `graphql`
// and graphql-transport-ws at `graphql/ws`, both relative to this page, so
// the playground works wherever an integrator mounts the router.
'use strict';

window.Chatshop = (() => {
  const httpUrl = new URL('graphql', window.location.href).toString();
  const wsUrl = `${httpUrl.replace(/^http/, 'ws')}/ws`;

  /** A GraphQL response with errors, or a failed request. */
  class RequestError extends Error {
    constructor(errors, status) {
      super(errors.map((error) => error.message).join('; ') || `HTTP ${status}`);
      this.errors = errors;
      this.status = status;
      this.code = errors[0]?.extensions?.code ?? 'NETWORK';
      this.reason = errors[0]?.extensions?.reason;
    }
  }

  /** Sends one operation over HTTP; returns the parsed response body. */
  async function post(body, headers = {}) {
    const response = await fetch(httpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });
    const type = response.headers.get('content-type') ?? '';
    if (!type.includes('json')) {
      throw new RequestError([{ message: `The server answered HTTP ${response.status}` }], response.status);
    }
    return { status: response.status, body: await response.json() };
  }

  /** Runs a query or mutation and returns its data, or throws RequestError. */
  async function request(query, variables, token) {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const { status, body } = await post({ query, variables }, headers);
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      throw new RequestError(body.errors, status);
    }
    return body.data;
  }

  // One socket per access token: every subscription of a signed-in user
  // shares it, the way a real client would.
  const sockets = new Map();

  function socketFor(token) {
    const key = token ?? '';
    if (!sockets.has(key)) {
      sockets.set(
        key,
        window.graphqlWs.createClient({
          url: wsUrl,
          connectionParams: token ? { token } : {},
          lazy: true,
          keepAlive: 10000,
          retryAttempts: 5,
        }),
      );
    }
    return sockets.get(key);
  }

  /**
   * Starts a subscription; `onEvent` gets each event's data, `onError` an
   * Error. Returns a function that ends the subscription.
   */
  function subscribe(query, variables, token, onEvent, onError) {
    return socketFor(token).subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.errors?.length) onError(new RequestError(result.errors, 200));
          else onEvent(result.data);
        },
        error: (error) => {
          const message = error instanceof Error ? error.message : `socket closed (${error?.code ?? 'unknown'})`;
          onError(new RequestError([{ message }], 0));
        },
        complete: () => {},
      },
    );
  }

  /** The async iterator GraphiQL wants for a subscription. */
  function iterate(payload, token) {
    return socketFor(token).iterate(payload);
  }

  return { httpUrl, wsUrl, post, request, subscribe, iterate, RequestError };
})();
