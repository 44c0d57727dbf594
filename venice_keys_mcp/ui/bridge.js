  // bridge.js: the host bridge both MCP App pages share, with no SDK: JSON-RPC 2.0 over
  // postMessage with the host (the parent window), the handshake, the host's theme and the
  // page's size reports (tests/apps/README.md has the protocol as the host implements it).
  // The loader (venice_keys_mcp/ui/__init__.py) puts it inside the page's own function, so
  // these names are the page's: `request` and `notify` talk to the host, `handlers[method]`
  // receives the host's notifications, `connect(appName)` starts the page once its handlers
  // are set.
  const PROTOCOL_VERSION = "2026-01-26";
  const $ = (id) => document.getElementById(id);
  const firstText = (result) => ((result.content || []).find((c) => c.type === "text") || {}).text || "";
  let nextId = 1;
  const pending = new Map();
  const handlers = {};

  const post = (message) => window.parent.postMessage(message, "*");
  const request = (method, params) => {
    const id = nextId++;
    post({ jsonrpc: "2.0", id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  };
  const notify = (method, params) => post({ jsonrpc: "2.0", method, params });

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const m = event.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.message || "refused by the host"));
      else p.resolve(m.result);
      return;
    }
    if (m.id !== undefined) { post({ jsonrpc: "2.0", id: m.id, result: {} }); return; }  // ping, teardown
    const handler = handlers[m.method];
    if (handler) handler(m.params || {});
  });

  function applyHostContext(ctx) {
    if (!ctx) return;
    if (ctx.theme) {
      document.documentElement.dataset.theme = ctx.theme;
      document.documentElement.style.colorScheme = ctx.theme;
    }
    const vars = ctx.styles && ctx.styles.variables;
    if (vars) for (const [k, v] of Object.entries(vars)) if (v) document.documentElement.style.setProperty(k, v);
  }
  handlers["ui/notifications/host-context-changed"] = applyHostContext;

  let lastSize = "";
  function reportSize() {
    const el = document.documentElement;
    const saved = el.style.height;
    el.style.height = "max-content";
    const height = Math.ceil(el.getBoundingClientRect().height);
    el.style.height = saved;
    const width = Math.ceil(window.innerWidth);
    if (`${width}x${height}` === lastSize) return;
    lastSize = `${width}x${height}`;
    notify("ui/notifications/size-changed", { width, height });
  }
  new ResizeObserver(reportSize).observe(document.body);

  // The handshake, page first: ui/initialize, the host's theme, initialized, the first size.
  async function connect(appName) {
    const init = await request("ui/initialize", {
      protocolVersion: PROTOCOL_VERSION,
      appInfo: { name: appName, version: "1.0.0" },
      appCapabilities: { availableDisplayModes: ["inline"] },
    });
    applyHostContext(init && init.hostContext);
    notify("ui/notifications/initialized", {});
    reportSize();
  }
