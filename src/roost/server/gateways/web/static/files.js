// File transfers over the session (docs/files.md): upload in chunks with a
// progress bar, download with the SHA-256 checked (SubtleCrypto) before saving.

const PIPELINE = 1024 * 1024; // bytes of puts in flight, as the reference client

export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Upload ``file`` (a File) to conversation ``to``; ``progress(done, total)``. */
export async function upload(session, to, file, progress) {
  const limits = session.hello.limits || {};
  const chunk = limits.chunk_size || 65536;
  const bytes = new Uint8Array(await file.arrayBuffer());
  const sha256 = await sha256Hex(bytes);
  const started = await session.request("upload", {
    to,
    name: file.name,
    size: bytes.length,
    media_type: file.type || "",
  });
  let offset = started.offset;
  if (offset > 0 && (await sha256Hex(bytes.subarray(0, offset))) !== started.prefix_sha256) {
    await session.request("upload_cancel", { upload: started.upload });
    return upload(session, to, file, progress);
  }
  const inflight = [];
  let acked = offset;
  progress(acked, bytes.length);
  while (offset < bytes.length) {
    const end = Math.min(offset + chunk, bytes.length);
    const put = session.request("put", {
      upload: started.upload,
      offset,
      data: bytes.subarray(offset, end),
    });
    inflight.push(put.then((n) => { acked = n; progress(acked, bytes.length); }));
    offset = end;
    if (inflight.length * chunk >= PIPELINE) await inflight.shift();
  }
  await Promise.all(inflight);
  return session.request("upload_done", { upload: started.upload, sha256 });
}

/** Download file ``info`` (FILE of an offer); resolves with a checked Blob. */
export async function download(session, info, progress) {
  const parts = [];
  let received = 0;
  progress(0, info.size);
  const onData = (ev) => {
    parts.push(ev.data);
    received += ev.data.length;
    progress(received, info.size);
  };
  const result = await session.request("download", { file: info.id, offset: 0 }, onData);
  const all = new Uint8Array(received);
  let pos = 0;
  for (const p of parts) { all.set(p, pos); pos += p.length; }
  const expected = result.file.sha256;
  const actual = await sha256Hex(all);
  if (actual !== expected) {
    throw new Error(`the file's SHA-256 is ${actual}, not ${expected}: not saved`);
  }
  return { blob: new Blob([all], { type: "application/octet-stream" }), sha256: actual };
}
