// Test host for MCP App pages: the official host-side bridge (AppBridge over
// PostMessageTransport from @modelcontextprotocol/ext-apps) around a sandboxed iframe.
//
// tests/apps/harness.py loads host.html, exposes two Python functions to this page and
// calls window.apphost.start(config). The host then behaves like an MCP Apps host: it
// answers the view's ui/initialize with host capabilities and a host context (theme,
// style variables, container width), sends the tool input and the whole tool result
// once the view says ui/notifications/initialized, relays the view's tools/call to the
// real MCP server through Python, and records every JSON-RPC message in both directions.
//
// Python side (exposed with page.expose_function):
//   __apphostCallTool(params) -> CallToolResult JSON, or throws (the view then gets a
//                                JSON-RPC error, as from a host that refused the call)
//   __apphostReadResource(params) -> ReadResourceResult JSON from the real server
//   __apphostRecord(event)    -> records one event for the test to assert on
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

// Host style variables (spec "Theming": McpUiStyleVariableKey names only; AppBridge's
// schema rejects other keys). Values are this host's own palette.
// Type and shape are the same in both themes.
const TYPE_AND_SHAPE = {
  "--font-sans": "system-ui, -apple-system, 'Segoe UI', sans-serif",
  "--font-mono": "ui-monospace, 'DejaVu Sans Mono', monospace",
  "--font-text-sm-size": "13px",
  "--font-text-md-size": "15px",
  "--font-weight-semibold": "600",
  "--border-radius-md": "8px",
  "--border-width-regular": "1px",
};
const THEMES = {
  light: {
    "--color-background-primary": "#ffffff",
    "--color-background-secondary": "#f4f4f5",
    "--color-background-danger": "#fef2f2",
    "--color-background-success": "#f0fdf4",
    "--color-background-warning": "#fffbeb",
    "--color-text-primary": "#18181b",
    "--color-text-secondary": "#52525b",
    "--color-text-danger": "#b91c1c",
    "--color-text-success": "#15803d",
    "--color-text-warning": "#b45309",
    "--color-text-inverse": "#fafafa",
    "--color-background-inverse": "#18181b",
    "--color-border-primary": "#d4d4d8",
    "--color-border-secondary": "#e4e4e7",
    "--color-ring-primary": "#2563eb",
    ...TYPE_AND_SHAPE,
  },
  dark: {
    "--color-background-primary": "#18181b",
    "--color-background-secondary": "#27272a",
    "--color-background-danger": "#450a0a",
    "--color-background-success": "#052e16",
    "--color-background-warning": "#451a03",
    "--color-text-primary": "#fafafa",
    "--color-text-secondary": "#a1a1aa",
    "--color-text-danger": "#fca5a5",
    "--color-text-success": "#86efac",
    "--color-text-warning": "#fcd34d",
    "--color-text-inverse": "#18181b",
    "--color-background-inverse": "#fafafa",
    "--color-border-primary": "#3f3f46",
    "--color-border-secondary": "#27272a",
    "--color-ring-primary": "#60a5fa",
    ...TYPE_AND_SHAPE,
  },
};

const HOST_INFO = { name: "venice-keys-test-host", version: "1.0.0" };

// What this host offers the view (McpUiHostCapabilities).
const HOST_CAPABILITIES = {
  serverTools: {},
  serverResources: {},
  openLinks: {},
  logging: {},
  message: { text: {} },
  updateModelContext: { text: {}, structuredContent: {} },
};

function record(kind, data) {
  const event = { kind, data: JSON.parse(JSON.stringify(data ?? null)) };
  window.apphost.log.push(event);
  // Fire and forget: the Python side appends to its lists in arrival order.
  window.__apphostRecord(event).catch((err) => console.error("record failed", err));
}

async function start(config) {
  const theme = config.theme === "dark" ? "dark" : "light";
  const width = config.width;
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
  const vars = THEMES[theme];
  for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);

  const container = document.getElementById("container");
  container.style.width = `${width}px`;
  const iframe = document.getElementById("app");
  iframe.style.height = `${config.initialHeight}px`;

  const hostContext = {
    theme,
    styles: { variables: { ...vars } },
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    containerDimensions: { width, maxHeight: config.maxHeight },
    locale: "en-US",
    timeZone: "UTC",
    platform: "web",
    userAgent: HOST_INFO.name,
    deviceCapabilities: { touch: false, hover: true },
  };
  if (config.toolInfo) hostContext.toolInfo = config.toolInfo;

  const bridge = new AppBridge(null, HOST_INFO, HOST_CAPABILITIES, { hostContext });

  bridge.oncalltool = async (params) => {
    record("tools/call", params);
    // Python calls the real MCP server (or refuses, like a host enforcing visibility).
    return await window.__apphostCallTool(params);
  };
  bridge.onreadresource = async (params) => {
    record("resources/read", params);
    return await window.__apphostReadResource(params);
  };
  bridge.onmessage = async (params) => {
    record("ui/message", params);
    return {};
  };
  bridge.onupdatemodelcontext = async (params) => {
    record("ui/update-model-context", params);
    return {};
  };
  bridge.onopenlink = async (params) => {
    record("ui/open-link", params);
    return {};
  };
  bridge.onloggingmessage = (params) => record("notifications/message", params);
  bridge.onrequestteardown = (params) => record("ui/notifications/request-teardown", params ?? {});
  bridge.onsizechange = ({ width: w, height: h }) => {
    record("ui/notifications/size-changed", { width: w, height: h });
    // Flexible height (containerDimensions.maxHeight): follow the view, up to the maximum.
    if (h != null) iframe.style.height = `${Math.min(h, config.maxHeight)}px`;
  };
  bridge.oninitialized = async () => {
    record("ui/notifications/initialized", {
      appInfo: bridge.getAppVersion() ?? null,
      appCapabilities: bridge.getAppCapabilities() ?? null,
    });
    await bridge.sendToolInput({ arguments: config.toolInput });
    if (config.toolResult !== null) await bridge.sendToolResult(config.toolResult);
    window.apphost.delivered = true;
    record("host/delivered", {});
  };
  bridge.onerror = (err) => record("host/error", { message: String(err?.message ?? err) });

  // Connect BEFORE the view exists, so its first ui/initialize is not missed.
  const transport = new PostMessageTransport(iframe.contentWindow, iframe.contentWindow);
  await bridge.connect(transport);
  // Wire log: every JSON-RPC message the view sends and every one the host sends it.
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    record("wire/from-app", message);
    return deliver(message, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message, options) => {
    record("wire/to-app", message);
    return send(message, options);
  };

  window.apphost.bridge = bridge;
  iframe.srcdoc = config.html;
}

// Tell the view the host context changed (e.g. a theme switch), as a real host would.
async function setTheme(theme) {
  const vars = THEMES[theme];
  for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
  window.apphost.bridge.setHostContext({
    ...window.apphost.bridge._hostContext,
    theme,
    styles: { variables: { ...vars } },
  });
}

window.apphost = { start, setTheme, log: [], delivered: false, themes: THEMES };
