// The demo story on the seeded shop, in two panes: a customer who browses,
// asks, orders and pays, and the shop's agent who answers and fulfils, with
// the owner's usage figures below. Every operation either pane sends is
// listed under it, exactly as sent.
'use strict';

(() => {
  const { request, subscribe } = window.Chatshop;

  const DEMO = {
    shopSlug: 'demo-coffee',
    password: 'demo-password',
    customer: 'customer@demo.chatshop.dev',
    agent: 'agent@demo.chatshop.dev',
    owner: 'owner@demo.chatshop.dev',
  };

  /** Test payment tokens the server's test provider understands. */
  const TEST_CARDS = [
    ['tok_success', 'Test card that pays'],
    ['tok_decline', 'Test card that is declined'],
    ['tok_insufficient_funds', 'Test card without funds'],
  ];

  const ORDER_FIELDS = `fragment OrderParts on Order {
  id status
  total { amount currencyCode }
  items { name quantity }
}`;
  const MESSAGE_FIELDS = `fragment MessageParts on Message {
  id seq kind text status sentAt
  author { kind name }
  product { id name price { amount currencyCode } }
  order { ...OrderParts }
}
${ORDER_FIELDS}`;

  const OPS = {
    signIn: `mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { token user { id name } }
}`,
    shop: `query DemoShop($slug: String!) {
  shop(slug: $slug) {
    id name description
    products(first: 20) {
      edges { node { id name description stock inStock price { amount currencyCode } } }
    }
  }
}`,
    myConversations: `query MyConversations {
  conversations(first: 50) { edges { node { id channel shop { id } } } }
}`,
    startConversation: `mutation StartConversation($input: StartConversationInput!) {
  startConversation(input: $input) { conversation { id } }
}`,
    sendMessage: `mutation SendMessage($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id seq status } }
}`,
    messageEvents: `subscription MessageEvents($conversationId: ID!) {
  messageEvents(conversationId: $conversationId) { type message { ...MessageParts } }
}
${MESSAGE_FIELDS}`,
    orderEvents: `subscription OrderEvents($conversationId: ID!) {
  orderEvents(conversationId: $conversationId) { ...OrderParts }
}
${ORDER_FIELDS}`,
    markRead: `mutation MarkRead($input: ReceiptInput!) {
  markRead(input: $input) { messages { seq status } }
}`,
    placeOrder: `mutation PlaceOrder($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { ...OrderParts } }
}
${ORDER_FIELDS}`,
    payOrder: `mutation PayOrder($input: PayOrderInput!) {
  payOrder(input: $input) { order { ...OrderParts } }
}
${ORDER_FIELDS}`,
    fulfillOrder: `mutation FulfillOrder($orderId: ID!) {
  fulfillOrder(orderId: $orderId) { order { ...OrderParts } }
}
${ORDER_FIELDS}`,
    inbox: `query Inbox($shopId: ID!) {
  conversations(shopId: $shopId, last: 20) {
    edges { node { id status unreadCount lastMessageAt customer { name } lastMessage { text kind } } }
  }
}`,
    inboxEvents: `subscription InboxEvents($shopId: ID!) {
  inboxEvents(shopId: $shopId) { type conversation { id } }
}`,
    usage: `query Usage($shopId: ID!, $from: DateTime!, $to: DateTime!) {
  billingUsage(shopId: $shopId, from: $from, to: $to) {
    paidOrders
    categories { category messages amount { amount currencyCode } }
    messagesTotal { amount currencyCode }
    platformFees { amount currencyCode }
    hosting { amount currencyCode }
  }
}`,
    closePeriod: `mutation CloseBillingPeriod($input: CloseBillingPeriodInput!) {
  closeBillingPeriod(input: $input) {
    invoice {
      id periodStart periodEnd
      lines { kind category quantity description amount { amount currencyCode } }
      totals { amount currencyCode }
    }
  }
}`,
  };

  // --- small DOM helpers ---------------------------------------------------

  /** Creates an element: h('div.card', { onclick }, child, 'text', …). */
  function h(spec, attrs = {}, ...children) {
    const [tag, ...classes] = spec.split('.');
    const node = document.createElement(tag || 'div');
    if (classes.length) node.className = classes.join(' ');
    for (const [key, value] of Object.entries(attrs ?? {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'dataset') {
        for (const [name, data] of Object.entries(value)) if (data !== undefined && data !== null) node.dataset[name] = data;
      }
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const money = (m) => (m ? `${formatAmount(m.amount)} ${m.currencyCode}` : '—');
  /** Decimal strings as they are, trimmed to cents when the rest is zeros. */
  function formatAmount(amount) {
    const [units, fraction = ''] = amount.split('.');
    const trimmed = fraction.replace(/0+$/, '');
    return trimmed.length <= 2 ? `${units}.${fraction.padEnd(2, '0').slice(0, 2)}` : `${units}.${trimmed}`;
  }
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const operationName = (query) => /(query|mutation|subscription)\s+(\w+)/.exec(query)?.slice(1) ?? ['query', 'anonymous'];
  const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
  const STATUS_ICONS = { SENT: '✓', DELIVERED: '✓✓', READ: '✓✓' };
  const ORDER_STATUS = {
    PENDING_PAYMENT: 'Awaiting payment',
    PAID: 'Paid',
    FULFILLED: 'Fulfilled',
    CANCELLED: 'Cancelled',
    REFUNDED: 'Refunded',
  };

  function debounce(fn, ms) {
    let timer;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // --- a pane: one signed-in user, its operation log and its errors ---------

  class Pane {
    constructor(root, side) {
      this.root = root;
      this.side = side;
      this.token = null;
      this.log = root.querySelector('.op-log');
      this.notice = root.querySelector('.notice');
    }

    async signIn(email) {
      const data = await this.run(OPS.signIn, { input: { email, password: DEMO.password } });
      this.token = data.signIn.token;
      this.user = data.signIn.user;
      return this.user;
    }

    /** Runs a query or mutation, listing it under the pane. */
    async run(query, variables, token = this.token) {
      const entry = this.logEntry(query, variables);
      const started = performance.now();
      try {
        const data = await request(query, variables, token);
        entry.done(`${Math.round(performance.now() - started)} ms`, 'ok');
        return data;
      } catch (error) {
        entry.done(error.code, 'failed');
        throw error;
      }
    }

    /** Starts a subscription, listing it (with its event count) under the pane. */
    listen(query, variables, onEvent, token = this.token) {
      const entry = this.logEntry(query, variables);
      let events = 0;
      entry.done('live', 'live');
      return subscribe(
        query,
        variables,
        token,
        (data) => {
          events += 1;
          entry.done(`live · ${events} event${events === 1 ? '' : 's'}`, 'live');
          onEvent(data);
        },
        (error) => {
          entry.done(error.code, 'failed');
          this.showError(error);
        },
      );
    }

    logEntry(query, variables) {
      const [kind, name] = operationName(query);
      const meta = h('span.op-meta', {}, '…');
      const entry = h(
        'details.op',
        { dataset: { operation: name } },
        h('summary', {}, h(`span.op-kind.${kind}`, {}, kind), h('span.op-name', {}, name), meta),
        h('pre.op-doc', {}, query),
        h('pre.op-vars', {}, JSON.stringify(variables ?? {}, null, 2)),
      );
      this.log.prepend(entry);
      while (this.log.children.length > 60) this.log.lastElementChild.remove();
      return {
        done: (text, state) => {
          meta.textContent = text;
          meta.className = `op-meta ${state}`;
        },
      };
    }

    showError(error) {
      const reason = error.reason ? ` (${error.reason})` : '';
      this.notice.replaceChildren(h('strong', {}, error.code), ` ${error.message}${reason}`);
      this.notice.className = 'notice error';
      this.notice.hidden = false;
    }

    clearError() {
      this.notice.hidden = true;
    }

    /** Runs an action from a button, showing its error in the pane. */
    async act(action) {
      try {
        this.clearError();
        return await action();
      } catch (error) {
        this.showError(error instanceof window.Chatshop.RequestError ? error : { code: 'ERROR', message: error.message });
        return undefined;
      }
    }
  }

  // --- a conversation view, shared by both panes -----------------------------

  /**
   * Messages of one conversation, live: replays history, follows new
   * messages, status changes and order updates, and marks what the other
   * side wrote as read while it is on screen.
   */
  class ConversationView {
    constructor(pane, container, conversationId, renderOrderActions) {
      this.pane = pane;
      this.container = container;
      this.conversationId = conversationId;
      this.renderOrderActions = renderOrderActions;
      this.messages = new Map();
      this.orders = new Map();
      this.markedThrough = 0;
      this.markRead = debounce(() => this.sendReadReceipt(), 250);
      this.stops = [
        pane.listen(OPS.messageEvents, { conversationId }, ({ messageEvents }) => this.onMessage(messageEvents.message)),
        pane.listen(OPS.orderEvents, { conversationId }, ({ orderEvents }) => this.onOrder(orderEvents)),
      ];
      this.render();
    }

    close() {
      for (const stop of this.stops) stop();
    }

    onMessage(message) {
      if (message.order) this.orders.set(message.order.id, message.order);
      this.messages.set(message.seq, message);
      this.render();
      if (message.author.kind !== this.pane.side && message.seq > this.markedThrough) this.markRead();
    }

    onOrder(order) {
      this.orders.set(order.id, order);
      this.render();
    }

    async sendReadReceipt() {
      const through = Math.max(...this.messages.keys());
      if (through <= this.markedThrough) return;
      this.markedThrough = through;
      await this.pane.act(() =>
        this.pane.run(OPS.markRead, { input: { conversationId: this.conversationId, throughSeq: through } }),
      );
    }

    render() {
      const atBottom = this.container.scrollHeight - this.container.scrollTop - this.container.clientHeight < 40;
      const sorted = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
      this.container.replaceChildren(
        ...(sorted.length ? sorted.map((message) => this.renderMessage(message)) : [h('p.empty', {}, 'No messages yet.')]),
      );
      if (atBottom || sorted.length <= 1) this.container.scrollTop = this.container.scrollHeight;
    }

    renderMessage(message) {
      const own = message.author.kind === this.pane.side;
      const who = message.author.kind === 'SYSTEM' ? 'Chatshop' : (message.author.name ?? message.author.kind.toLowerCase());
      const body = [];
      if (message.kind === 'ORDER_CONFIRMATION') {
        const order = message.order && this.orders.get(message.order.id);
        body.push(h('div.confirmation', { dataset: { order: message.order?.id } }, h('strong', {}, '✔ Payment confirmed'), ' ', message.text, order ? ` · ${money(order.total)}` : ''));
      } else if (message.kind === 'ORDER_CARD' && message.order) {
        // The card shows what the message text says, live.
        body.push(this.renderOrder(this.orders.get(message.order.id) ?? message.order));
      } else {
        if (message.product) {
          body.push(h('div.product-ref', {}, 'About ', h('strong', {}, message.product.name), ` · ${money(message.product.price)}`));
        }
        body.push(h('p.text', {}, message.text));
      }
      return h(
        `div.msg.${own ? 'own' : 'theirs'}.kind-${message.kind.toLowerCase()}`,
        { dataset: { seq: message.seq, kind: message.kind } },
        h('div.msg-meta', {}, h('span', {}, who), h('span', {}, time(message.sentAt))),
        ...body,
        own
          ? h(
              `div.msg-status.${message.status.toLowerCase()}`,
              { title: message.status.toLowerCase() },
              `${STATUS_ICONS[message.status] ?? ''} ${message.status.toLowerCase()}`,
            )
          : null,
      );
    }

    renderOrder(order) {
      return h(
        'div.order-card',
        { dataset: { order: order.id, status: order.status } },
        h('div.order-head', {}, h('strong', {}, 'Order'), h(`span.badge.${order.status.toLowerCase()}`, {}, ORDER_STATUS[order.status] ?? order.status)),
        h('ul', {}, order.items.map((item) => h('li', {}, `${item.quantity} × ${item.name}`))),
        h('div.order-total', {}, 'Total ', h('strong', {}, money(order.total))),
        this.renderOrderActions(order),
      );
    }
  }

  // --- the customer -------------------------------------------------------------

  async function startCustomer(pane, shop) {
    const catalog = pane.root.querySelector('.catalog');
    const chat = pane.root.querySelector('.chat');
    const composer = pane.root.querySelector('form.composer');
    let view = null;

    const mine = await pane.run(OPS.myConversations, {});
    const existing = mine.conversations.edges.find(({ node }) => node.shop.id === shop.id && node.channel === 'WEB');
    if (existing) open(existing.node.id);

    function open(conversationId) {
      view = new ConversationView(pane, chat, conversationId, renderPayment);
    }

    async function conversationId() {
      if (!view) {
        const data = await pane.run(OPS.startConversation, { input: { shopId: shop.id, channel: 'WEB' } });
        open(data.startConversation.conversation.id);
      }
      return view.conversationId;
    }

    async function send(text, productId) {
      const id = await conversationId();
      await pane.run(OPS.sendMessage, { input: { conversationId: id, text, productId, clientMessageId: newKey() } });
    }

    function renderPayment(order) {
      if (order.status !== 'PENDING_PAYMENT') return null;
      const select = h('select', { 'aria-label': 'Payment method' }, TEST_CARDS.map(([token, label]) => h('option', { value: token }, label)));
      const button = h('button.pay', { type: 'button' }, 'Pay');
      button.addEventListener('click', () =>
        pane.act(async () => {
          button.disabled = true;
          try {
            await pane.run(OPS.payOrder, {
              input: { orderId: order.id, paymentMethodToken: select.value, idempotencyKey: newKey() },
            });
          } finally {
            button.disabled = false;
          }
        }),
      );
      return h('div.order-actions', {}, select, button);
    }

    catalog.replaceChildren(
      ...shop.products.edges.map(({ node: product }) => {
        const quantity = h('input.qty', { type: 'number', min: '1', max: '99', value: '1', 'aria-label': `Quantity of ${product.name}` });
        return h(
          'li.product',
          { dataset: { product: product.id } },
          h('div.product-info', {}, h('strong', {}, product.name), h('span.muted', {}, product.description)),
          h('span.price', {}, money(product.price)),
          h(`span.stock.${product.inStock ? 'in' : 'out'}`, {}, product.inStock ? `${product.stock ?? ''} in stock`.trim() : 'sold out'),
          h('button.ask.secondary', { type: 'button', onclick: () => pane.act(() => send(`Hi! Is the ${product.name} good for espresso?`, product.id)) }, 'Ask'),
          quantity,
          h(
            'button.order',
            {
              type: 'button',
              disabled: !product.inStock,
              onclick: () =>
                pane.act(async () => {
                  const id = await conversationId();
                  await pane.run(OPS.placeOrder, {
                    input: { conversationId: id, clientKey: newKey(), items: [{ productId: product.id, quantity: Number(quantity.value) }] },
                  });
                }),
            },
            'Order',
          ),
        );
      }),
    );

    composer.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = composer.elements.text;
      const text = input.value.trim();
      if (!text) return;
      pane.act(async () => {
        await send(text);
        input.value = '';
      });
    });
  }

  // --- the agent, and the owner's figures ---------------------------------------

  async function startAgent(pane, shop) {
    const inbox = pane.root.querySelector('.inbox');
    const chat = pane.root.querySelector('.chat');
    const composer = pane.root.querySelector('form.composer');
    let view = null;
    // Until the agent picks a conversation, the pane follows the one that
    // last received a message, so the story plays without clicking.
    let followLive = true;

    function renderFulfil(order) {
      if (order.status !== 'PAID') return null;
      return h(
        'div.order-actions',
        {},
        h('button.fulfil', { type: 'button', onclick: () => pane.act(() => pane.run(OPS.fulfillOrder, { orderId: order.id })) }, 'Mark fulfilled'),
      );
    }

    function select(conversationId) {
      if (view?.conversationId === conversationId) return;
      view?.close();
      view = new ConversationView(pane, chat, conversationId, renderFulfil);
      composer.elements.text.disabled = false;
      composer.querySelector('button').disabled = false;
      refreshInbox();
    }

    const refreshInbox = debounce(async () => {
      const data = await pane.act(() => pane.run(OPS.inbox, { shopId: shop.id }));
      if (!data) return;
      const conversations = data.conversations.edges
        .map((edge) => edge.node)
        .sort((a, b) => (b.lastMessageAt ?? '').localeCompare(a.lastMessageAt ?? '')); // latest activity first
      if (!view && conversations.length) {
        select(conversations[0].id);
        return;
      }
      inbox.replaceChildren(
        ...(conversations.length
          ? conversations.map((conversation) =>
              h(
                `li.conversation${conversation.id === view?.conversationId ? '.selected' : ''}`,
                {
                  dataset: { conversation: conversation.id },
                  onclick: () => {
                    followLive = false;
                    select(conversation.id);
                  },
                },
                h('div.row', {}, h('strong', {}, conversation.customer?.name ?? 'Customer'), conversation.unreadCount ? h('span.unread', {}, conversation.unreadCount) : null),
                h('span.muted', {}, conversation.lastMessage?.text?.slice(0, 60) ?? 'No messages'),
              ),
            )
          : [h('p.empty', {}, 'No conversations yet: ask something as the customer.')]),
      );
    }, 150);

    pane.listen(OPS.inboxEvents, { shopId: shop.id }, ({ inboxEvents }) => {
      if (followLive && inboxEvents.type === 'MESSAGE_APPENDED' && inboxEvents.conversation) {
        select(inboxEvents.conversation.id);
      }
      refreshInbox();
    });
    refreshInbox();

    composer.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = composer.elements.text;
      const text = input.value.trim();
      if (!text || !view) return;
      pane.act(async () => {
        await pane.run(OPS.sendMessage, { input: { conversationId: view.conversationId, text, clientMessageId: newKey() } });
        input.value = '';
      });
    });
  }

  async function startOwner(pane, shop, ownerToken) {
    const panel = pane.root.querySelector('.usage');
    const invoice = pane.root.querySelector('.invoice');
    const now = new Date();
    const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
    const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();

    const refresh = debounce(async () => {
      const data = await pane.act(() => pane.run(OPS.usage, { shopId: shop.id, from, to }, ownerToken));
      if (!data) return;
      const usage = data.billingUsage;
      panel.replaceChildren(
        h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', {}, 'This month'), h('th.num', {}, 'Count'), h('th.num', {}, 'Amount'))),
          h(
            'tbody',
            {},
            usage.categories.map((c) =>
              h('tr', { dataset: { category: c.category } }, h('td', {}, `${c.category.toLowerCase()} messages`), h('td.num', {}, c.messages), h('td.num', {}, money(c.amount))),
            ),
            h('tr.paid-orders', {}, h('td', {}, 'platform fee on paid orders'), h('td.num', { dataset: { paidOrders: usage.paidOrders } }, usage.paidOrders), h('td.num', {}, money(usage.platformFees))),
            h('tr', {}, h('td', {}, 'hosting'), h('td.num', {}, ''), h('td.num', {}, money(usage.hosting))),
          ),
        ),
      );
    }, 300);

    pane.root.querySelector('button.close-period').addEventListener('click', () =>
      pane.act(async () => {
        const data = await pane.run(OPS.closePeriod, { input: { shopId: shop.id, periodEnd: new Date().toISOString() } }, ownerToken);
        const closed = data.closeBillingPeriod.invoice;
        invoice.hidden = false;
        invoice.replaceChildren(
          h('h4', {}, `Invoice ${time(closed.periodStart)} → ${time(closed.periodEnd)}`),
          h('ul', {}, closed.lines.map((line) => h('li', {}, h('span', {}, line.description), h('span.num', {}, money(line.amount))))),
          h('p', {}, 'Total ', h('strong', {}, closed.totals.map(money).join(' + ') || '0')),
        );
      }),
    );

    // Usage moves when messages are delivered and orders are paid.
    pane.listen(OPS.inboxEvents, { shopId: shop.id }, () => refresh(), ownerToken);
    refresh();
  }

  // --- start ------------------------------------------------------------------

  async function start() {
    const customer = new Pane(document.getElementById('customer-pane'), 'CUSTOMER');
    const agent = new Pane(document.getElementById('agent-pane'), 'AGENT');
    const status = document.getElementById('story-status');
    try {
      const [customerUser, agentUser] = await Promise.all([customer.signIn(DEMO.customer), agent.signIn(DEMO.agent)]);
      const owner = await agent.run(OPS.signIn, { input: { email: DEMO.owner, password: DEMO.password } });
      const { shop } = await customer.run(OPS.shop, { slug: DEMO.shopSlug });
      if (!shop) throw new Error(`The demo shop "${DEMO.shopSlug}" is missing: start the server with demo seeding on (the default).`);
      customer.root.querySelector('.who').textContent = `${customerUser.name} · customer`;
      agent.root.querySelector('.who').textContent = `${agentUser.name} · agent of ${shop.name}`;
      document.querySelectorAll('.shop-name').forEach((node) => {
        node.textContent = shop.name;
      });
      await Promise.all([startCustomer(customer, shop), startAgent(agent, shop), startOwner(agent, shop, owner.signIn.token)]);
      status.textContent = 'Live: both panes are subscribed over graphql-transport-ws.';
      document.body.dataset.story = 'ready';
    } catch (error) {
      status.textContent = error.code === 'UNAUTHENTICATED'
        ? 'The demo accounts are missing: start the server on a fresh database with demo seeding on (the default).'
        : `The demo could not start: ${error.message}`;
      status.className = 'error';
      document.body.dataset.story = 'failed';
    }
  }

  window.ChatshopStory = { start };
})();
