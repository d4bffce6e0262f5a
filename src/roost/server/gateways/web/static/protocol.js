// The Roost protocol over a WebSocket (docs/protocol.md, docs/web.md): each
// binary message holds whole native frames, a 4-byte big-endian length and a
// MessagePack map.

import { decode, encode } from "./msgpack.js";

export const PROTOCOL_VERSION = 1;
// After these the server wants no automatic reconnect (docs/protocol.md section 7).
export const FINAL_BYES = new Set(["blocked", "kicked", "banned", "refused", "version", "logout"]);

export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function frame(msg) {
  const payload = encode(msg);
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/** One WebSocket session: requests with replies, and events. */
export class Session {
  constructor(url, onEvent, onClose) {
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.nextId = 1;
    this.waiting = new Map(); // request id -> {resolve, reject, onData}
    this.bye = null;
    this.hello = null;
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.helloWaiter = { resolve, reject };
    });
    this.ws.onmessage = (ev) => this.received(new Uint8Array(ev.data));
    this.ws.onclose = () => this.closed();
    this.ws.onerror = () => {};
  }

  received(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    while (pos + 4 <= bytes.length) {
      const n = view.getUint32(pos);
      const msg = decode(bytes.subarray(pos + 4, pos + 4 + n));
      pos += 4 + n;
      this.dispatch(msg);
    }
  }

  dispatch(msg) {
    const t = msg.t;
    if (t === "hello") {
      this.hello = msg;
      this.sendRaw({ t: "hello", version: PROTOCOL_VERSION, client: "roost-web" });
      this.helloWaiter.resolve(msg);
      return;
    }
    if ((t === "ok" || t === "error") && msg.id !== null && msg.id !== undefined) {
      const w = this.waiting.get(msg.id);
      if (w) {
        this.waiting.delete(msg.id);
        if (t === "ok") w.resolve(msg.result ?? null);
        else w.reject(new RequestError(msg.code, msg.message));
        return;
      }
    }
    if (t === "data") {
      const w = this.waiting.get(msg.id);
      if (w && w.onData) w.onData(msg);
      return;
    }
    if (t === "ping" && msg.id === undefined) {
      this.sendRaw({ t: "pong", ts: msg.ts });
      return;
    }
    if (t === "bye") this.bye = msg;
    this.onEvent(msg);
  }

  closed() {
    this.helloWaiter.reject(new RequestError("closed", "the connection closed"));
    for (const w of this.waiting.values()) {
      w.reject(new RequestError("closed", "the connection closed before the reply"));
    }
    this.waiting.clear();
    this.onClose(this.bye, this);
  }

  sendRaw(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame(msg));
  }

  /** Send a request; resolves with its result or rejects with a RequestError. */
  request(type, fields = {}, onData = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) {
        reject(new RequestError("closed", "not connected"));
        return;
      }
      this.waiting.set(id, { resolve, reject, onData });
      this.ws.send(frame({ t: type, id, ...fields }));
    });
  }

  /** Id the next request will carry (a download's data events name it). */
  peekId() {
    return this.nextId;
  }

  close() {
    this.ws.close();
  }
}
