// A small MessagePack encoder and decoder (https://msgpack.org/), enough for
// the Roost protocol: nil, booleans, integers, float64, strings, binary
// (Uint8Array), arrays and maps (plain objects with string keys).

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }
  room(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
  u8(v) { this.room(1); this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v) { this.room(2); this.view.setUint16(this.pos, v); this.pos += 2; }
  u32(v) { this.room(4); this.view.setUint32(this.pos, v); this.pos += 4; }
  bytes(b) { this.room(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  result() { return this.buf.slice(0, this.pos); }
}

function writeInt(w, v) {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) { w.u8(0xcc); w.u8(v); }
    else if (v < 0x10000) { w.u8(0xcd); w.u16(v); }
    else if (v < 0x100000000) { w.u8(0xce); w.u32(v); }
    else { w.u8(0xcf); w.u32(Math.floor(v / 0x100000000)); w.u32(v >>> 0); }
  } else if (v >= -32) {
    w.u8(v & 0xff);
  } else if (v >= -0x80000000) {
    w.u8(0xd2); w.room(4); w.view.setInt32(w.pos, v); w.pos += 4;
  } else {
    w.u8(0xd3); w.room(8); w.view.setBigInt64(w.pos, BigInt(v)); w.pos += 8;
  }
}

function writeValue(w, v) {
  if (v === null || v === undefined) w.u8(0xc0);
  else if (v === false) w.u8(0xc2);
  else if (v === true) w.u8(0xc3);
  else if (typeof v === "number") {
    if (Number.isSafeInteger(v)) writeInt(w, v);
    else { w.u8(0xcb); w.room(8); w.view.setFloat64(w.pos, v); w.pos += 8; }
  } else if (typeof v === "string") {
    const b = utf8.encode(v);
    if (b.length < 32) w.u8(0xa0 | b.length);
    else if (b.length < 0x100) { w.u8(0xd9); w.u8(b.length); }
    else if (b.length < 0x10000) { w.u8(0xda); w.u16(b.length); }
    else { w.u8(0xdb); w.u32(b.length); }
    w.bytes(b);
  } else if (v instanceof Uint8Array) {
    if (v.length < 0x100) { w.u8(0xc4); w.u8(v.length); }
    else if (v.length < 0x10000) { w.u8(0xc5); w.u16(v.length); }
    else { w.u8(0xc6); w.u32(v.length); }
    w.bytes(v);
  } else if (Array.isArray(v)) {
    if (v.length < 16) w.u8(0x90 | v.length);
    else if (v.length < 0x10000) { w.u8(0xdc); w.u16(v.length); }
    else { w.u8(0xdd); w.u32(v.length); }
    for (const item of v) writeValue(w, item);
  } else if (typeof v === "object") {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length < 16) w.u8(0x80 | keys.length);
    else if (keys.length < 0x10000) { w.u8(0xde); w.u16(keys.length); }
    else { w.u8(0xdf); w.u32(keys.length); }
    for (const k of keys) { writeValue(w, k); writeValue(w, v[k]); }
  } else {
    throw new TypeError("cannot encode a " + typeof v);
  }
}

/** One value as MessagePack bytes. */
export function encode(value) {
  const w = new Writer();
  writeValue(w, value);
  return w.result();
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  need(n) { if (this.pos + n > this.bytes.length) throw new RangeError("truncated MessagePack"); }
  u8() { this.need(1); return this.view.getUint8(this.pos++); }
  u16() { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }
  take(n) { this.need(n); const b = this.bytes.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  str(n) { return fromUtf8.decode(this.take(n)); }
  array(n) { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = this.value(); return a; }
  map(n) {
    const o = Object.create(null);
    for (let i = 0; i < n; i++) { const k = this.value(); o[String(k)] = this.value(); }
    return o;
  }
  value() {
    const b = this.u8();
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f);
    if (b < 0xa0) return this.array(b & 0x0f);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    let v;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.take(this.u8()).slice();
      case 0xc5: return this.take(this.u16()).slice();
      case 0xc6: return this.take(this.u32()).slice();
      case 0xca: this.need(4); v = this.view.getFloat32(this.pos); this.pos += 4; return v;
      case 0xcb: this.need(8); v = this.view.getFloat64(this.pos); this.pos += 8; return v;
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: this.need(8); v = Number(this.view.getBigUint64(this.pos)); this.pos += 8; return v;
      case 0xd0: this.need(1); v = this.view.getInt8(this.pos); this.pos += 1; return v;
      case 0xd1: this.need(2); v = this.view.getInt16(this.pos); this.pos += 2; return v;
      case 0xd2: this.need(4); v = this.view.getInt32(this.pos); this.pos += 4; return v;
      case 0xd3: this.need(8); v = Number(this.view.getBigInt64(this.pos)); this.pos += 8; return v;
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16());
      case 0xdd: return this.array(this.u32());
      case 0xde: return this.map(this.u16());
      case 0xdf: return this.map(this.u32());
      default: throw new RangeError("unsupported MessagePack type 0x" + b.toString(16));
    }
  }
}

/** The value held by MessagePack bytes (a Uint8Array). */
export function decode(bytes) {
  const r = new Reader(bytes);
  const v = r.value();
  if (r.pos !== bytes.length) throw new RangeError("trailing bytes after MessagePack value");
  return v;
}
