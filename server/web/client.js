// The JavaScript side of clawsocket.wasm's ABI (bindings/wasm/src/lib.rs): strings in through
// the module's input buffer, out through its output buffer, one handle per client. Protocol
// logic lives in the module (the core's Client); this file only moves bytes.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export async function loadClientModule(url) {
  const response = await fetch(url);
  const { instance } = await WebAssembly.instantiateStreaming(response, {});
  return instance.exports;
}

export class WasmClient {
  constructor(exports, options) {
    this.x = exports;
    this.#input(JSON.stringify(options));
    this.handle = this.x.cs_client_new();
    if (this.handle === 0) throw new Error("client options refused: " + this.#output(this.x.cs_output_len()));
  }

  #input(text) {
    const bytes = encoder.encode(text);
    const ptr = this.x.cs_input(bytes.length);
    new Uint8Array(this.x.memory.buffer, ptr, bytes.length).set(bytes);
  }

  // The output buffer's text for a call that returned `len` (-1: nothing).
  #output(len) {
    if (len < 0) return null;
    const ptr = this.x.cs_output();
    return decoder.decode(new Uint8Array(this.x.memory.buffer, ptr, len));
  }

  connectQuery() { return this.#output(this.x.cs_connect_query(this.handle)); }

  // Returns {messageId} or {error}.
  send(now, message) {
    this.#input(JSON.stringify(message));
    return JSON.parse(this.#output(this.x.cs_send(this.handle, now)));
  }

  cancel(messageId) { this.#input(messageId || ""); this.x.cs_cancel(this.handle); }

  requestHistory(request) {
    this.#input(JSON.stringify(request));
    if (this.x.cs_request_history(this.handle) < 0) throw new Error(this.#output(this.x.cs_output_len()));
  }

  handleOpen(now) { this.x.cs_handle_open(this.handle, now); }
  handleClose(now, code) { this.x.cs_handle_close(this.handle, now, code); }
  stop() { this.x.cs_stop(this.handle); }

  // false when the frame is not a JSON object with a type (nothing changed).
  handleFrame(now, text) {
    this.#input(text);
    return this.x.cs_handle_frame(this.handle, now) === 0;
  }

  handleTimeout(now) { this.x.cs_handle_timeout(this.handle, now); }
  pollTransmit() { return this.#output(this.x.cs_poll_transmit(this.handle)); }

  pollEvent() {
    const text = this.#output(this.x.cs_poll_event(this.handle));
    return text === null ? null : JSON.parse(text);
  }

  pollTimeout() {
    const at = this.x.cs_poll_timeout(this.handle);
    return at < 0 ? null : at;
  }

  lastSeqs() { return JSON.parse(this.#output(this.x.cs_last_seqs(this.handle))); }
  setLastSeq(sessionKey, seq) { this.#input(sessionKey); this.x.cs_set_last_seq(this.handle, seq); }
  free() { this.x.cs_client_free(this.handle); }
}
