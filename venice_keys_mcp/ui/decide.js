  // decide.js: the approval both MCP App pages show, the card whole and the dashboard in its
  // panel. A gated tool's awaiting_approval answer carries the one-time nonce in its _meta
  // (META_KEY), which the host gives the page and not the model; Approve and Decline call the
  // app-only tool approve_action with it, and a reveal approval shows a new key's secret here,
  // once. The model is told the outcome, never a secret; Venice text is only ever textContent.
  // It drives the controls of decide.html and the page's #title and #badge; it is included
  // after bridge.js (it uses `$`, `request`, `firstText`). The page defines `state`
  // ({ offer, reveal, busy, ... }), `PLACE` (where the person decided, in what the model is
  // told), `setBadge(text, kind)`, and `afterDecision(sc)`, what the page does once the person
  // has decided.
  const META_KEY = "venice-keys/approval";
  const TITLES = {
    revoke: "Revoke this key?", create: "Create this key?", update: "Change this key?",
    rotate: "Rotate this key?", revoke_many: "Revoke these keys?",
  };

  function setOutcome(text, kind) {
    const o = $("outcome");
    o.textContent = text || "";
    o.className = kind || "";
  }

  // An awaiting_approval answer: what would change, and the form to decide with (typing what
  // is asked, where the policy asks it). `final`: the action cannot be undone.
  function showOffer(meta, preview, final) {
    state.offer = meta;
    $("title").textContent = TITLES[preview.action] || "Approve this action?";
    setBadge(final ? "cannot be undone" : "needs your approval", final ? "danger" : "");
    const lines = preview.changes && preview.changes.length ? preview.changes : meta.summary;
    $("changes").replaceChildren(...(lines || []).map((line) => {
      const li = document.createElement("li");
      li.textContent = line;  // text only: descriptions are Venice's data, never markup
      return li;
    }));
    $("note").textContent = "Nothing happens until you decide here. The assistant cannot approve for you.";
    $("decide").hidden = false;
    if (meta.expect) {
      $("typed-label").hidden = false;
      $("typed").hidden = false;
      $("typed-label").textContent = `Type ${meta.expect} to approve`;
      $("typed").focus();
    }
  }

  function offerReveal(offer) {
    state.reveal = offer;
    $("reveal").hidden = false;
    $("show-secret").disabled = false;
  }

  async function approveAction(args) {
    const result = await request("tools/call", { name: "approve_action", arguments: args });
    if (result.isError) throw new Error(firstText(result) || "The server refused.");
    return result;
  }

  async function tellModel(text) {
    try {
      await request("ui/update-model-context", { content: [{ type: "text", text }] });
    } catch (_) { /* a host without model-context updates: the outcome is still shown here */ }
  }

  async function decide(decision) {
    if (state.busy || !state.offer) return;
    state.busy = true;
    for (const id of ["approve", "decline", "typed"]) $(id).disabled = true;
    const offer = state.offer;
    try {
      const result = await approveAction({
        approval_id: offer.approval_id, decision, nonce: offer.nonce, typed: $("typed").value,
      });
      const sc = result.structuredContent || {};
      if (sc.status === "not_confirmed") {
        setOutcome(sc.message, "err");
        for (const id of ["approve", "decline", "typed"]) $(id).disabled = false;
        $("typed").select();
        return;
      }
      $("decide").hidden = true;
      $("note").textContent = "";
      state.offer = null;
      const ok = sc.status === "approved" || sc.status === "declined";
      setBadge(sc.status, sc.status === "approved" ? "ok" : (ok ? "" : "danger"));
      setOutcome(sc.message, sc.status === "approved" ? "ok" : (sc.status === "declined" ? "info" : "err"));
      const outcome = sc.outcome || {};
      const said = sc.status === "approved"
        ? `The person approved ${sc.action} in ${PLACE} (${offer.approval_id}). Result: ${sc.message}`
        : `The person answered the approval for ${sc.action || "the action"} in ${PLACE} (${offer.approval_id}): ${sc.status}. ${sc.message}`;
      await tellModel(said + (outcome.status ? ` [status: ${outcome.status}]` : ""));
      const meta = (result._meta || {})[META_KEY];
      if (meta && meta.kind === "reveal") offerReveal(meta);
      await afterDecision(sc);
    } catch (err) {
      setOutcome(`Not done: ${err.message}`, "err");
      for (const id of ["approve", "decline", "typed"]) $(id).disabled = false;
    } finally {
      state.busy = false;
    }
  }

  async function showSecret() {
    if (state.busy || !state.reveal) return;
    state.busy = true;
    $("show-secret").disabled = true;
    try {
      const result = await approveAction({
        approval_id: state.reveal.approval_id, decision: "approve", nonce: state.reveal.nonce, typed: "",
      });
      const sc = result.structuredContent || {};
      if (sc.status !== "secret_shown" || !sc.secret) throw new Error(sc.message || "not shown");
      $("secret").textContent = sc.secret;
      $("secret-box").hidden = false;
      $("reveal").hidden = true;
      setOutcome(sc.message, "info");
      await tellModel(`The person viewed the new key's secret in ${PLACE} (${state.reveal.approval_id}); it was not shown to you.`);
    } catch (err) {
      setOutcome(`Not shown: ${err.message}`, "err");
    } finally {
      state.busy = false;
    }
  }

  $("decide").addEventListener("submit", (e) => { e.preventDefault(); decide("approve"); });
  $("decline").addEventListener("click", () => decide("decline"));
  $("show-secret").addEventListener("click", showSecret);
  $("hide").addEventListener("click", () => { $("secret").textContent = ""; $("secret-box").hidden = true; });
  $("copy").addEventListener("click", async () => {
    const text = $("secret").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("copy").textContent = "Copied";
    } catch (_) {  // clipboard not allowed in this frame: select it for the person to copy
      const range = document.createRange();
      range.selectNodeContents($("secret"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $("copy").textContent = "Selected: press Ctrl+C";
    }
  });
