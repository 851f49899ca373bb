// The API explorer: GraphiQL (vendored, offline) with queries and mutations
// over HTTP, subscriptions over graphql-transport-ws, and sign-in that puts
// the token into the request headers.
'use strict';

(() => {
  const { post, iterate, request } = window.Chatshop;

  const DEFAULT_QUERY = `# Welcome to the Chatshop API explorer.
#
# Run with Ctrl+Enter. The schema, with every type's documentation, is in
# the Docs panel on the left; past operations are under History.
# Sign in above to act as a demo user: the token goes into Headers.
# Subscriptions run over graphql-transport-ws at /graphql/ws.

query DemoCatalog {
  shop(slug: "demo-coffee") {
    name
    products(first: 5) {
      edges { node { id name price { amount currencyCode } stock } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
`;

  /** The bearer token of the Headers editor, if any. */
  function tokenFrom(headers) {
    const value = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
    const match = /^Bearer\s+(.+)$/i.exec(value ?? '');
    return match ? match[1].trim() : undefined;
  }

  function isSubscription(params, options) {
    const definitions = options?.documentAST?.definitions ?? [];
    const operation = definitions.find(
      (definition) =>
        definition.kind === 'OperationDefinition' && (!params.operationName || definition.name?.value === params.operationName),
    );
    if (operation) return operation.operation === 'subscription';
    return /^\s*subscription\b/m.test(params.query.replace(/#.*$/gm, ''));
  }

  /** GraphiQL's fetcher: a promise for HTTP, an async iterator for subscriptions. */
  function fetcher(params, options) {
    const headers = options?.headers ?? {};
    if (isSubscription(params, options)) {
      return iterate({ query: params.query, variables: params.variables, operationName: params.operationName }, tokenFrom(headers));
    }
    return post(params, headers).then(({ body }) => body);
  }

  let mounted = false;
  let root = null;
  let headers = '{}';

  function render() {
    const element = window.React.createElement(window.GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      headers,
      shouldPersistHeaders: false,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: headers === '{}' ? false : 'headers',
    });
    root.render(element);
  }

  function mount() {
    if (mounted) return;
    mounted = true;
    root = window.ReactDOM.createRoot(document.getElementById('graphiql'));
    render();
  }

  /** Puts a token into GraphiQL's Headers editor (GraphiQL follows its `headers` prop). */
  function useToken(token, label) {
    headers = JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2);
    render();
    const status = document.getElementById('explorer-auth-status');
    status.textContent = `Signed in as ${label}: the token is in Headers.`;
    status.className = 'muted';
  }

  function showAuthError(error) {
    const status = document.getElementById('explorer-auth-status');
    status.textContent = `${error.code ?? 'ERROR'}: ${error.message}`;
    status.className = 'error';
  }

  async function signIn(email, password) {
    const data = await request(
      'mutation SignIn($input: SignInInput!) { signIn(input: $input) { token user { name email } } }',
      { input: { email, password } },
    );
    useToken(data.signIn.token, `${data.signIn.user.name} <${data.signIn.user.email}>`);
  }

  async function signUp(name, email, password) {
    const data = await request(
      'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { token user { name email } } }',
      { input: { name, email, password } },
    );
    useToken(data.signUp.token, `${data.signUp.user.name} <${data.signUp.user.email}>`);
  }

  function wireAuth() {
    for (const button of document.querySelectorAll('[data-demo-user]')) {
      button.addEventListener('click', () =>
        signIn(`${button.dataset.demoUser}@demo.chatshop.dev`, 'demo-password').catch(showAuthError),
      );
    }
    const form = document.getElementById('explorer-auth');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const { name, email, password } = form.elements;
      const action = event.submitter?.value === 'signup'
        ? signUp(name.value.trim(), email.value.trim(), password.value)
        : signIn(email.value.trim(), password.value);
      action.catch(showAuthError);
    });
    document.getElementById('explorer-signout').addEventListener('click', () => {
      headers = '{}';
      render();
      document.getElementById('explorer-auth-status').textContent = 'Signed out.';
    });
  }

  window.ChatshopExplorer = { mount, wireAuth };
})();
