import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { ChannelError } from "@ipc-sampler/core";
import { openSegment, truncatedError, type MappedSegment } from "@ipc-sampler/posix";
import { CTL_FILE, G_INDEX, G_MAGIC, G_REUSED, G_SEQ_HI, G_SEQ_LO, G_STREAM, KIND_BYE, KIND_DATA, KIND_NEXT, RECORD_HEADER, R_CHECKSUM, R_KIND, R_LENGTH, R_MARKER, R_SEQ_HI, R_SEQ_LO, SEGMENT_HEADER, SEG_MAGIC, commitFor, parseSegmentFile, segmentFile, sumOf } from "./layout.js";
import type { JournalPosition } from "./receiver.js";

export interface JournalRecord {
  /** The producer stream it belongs to. */
  readonly stream: number;
  /** Its sequence number in that stream (0, 1, 2, …). */
  readonly seq: number;
  /** The payload: a view into the mapped segment file. */
  readonly data: Uint8Array;
}

export interface ReplayOptions {
  /** Start after what a consumer already processed: stream id → next sequence (from `position()`); default: from the beginning. */
  from?: JournalPosition;
  /** Recompute each record's checksum and stop a stream at the first mismatch (default true). */
  verify?: boolean;
}

export interface StreamSummary {
  stream: number;
  /** Segment files present (retention may have dropped earlier ones). */
  segments: number[];
  /** Committed records found by the last replay. */
  records: number;
  /** The producer closed this stream (a BYE record). */
  closed: boolean;
  /** Bytes after the last committed record that were written but never committed (a producer died mid-record), or a checksum mismatch. */
  torn: boolean;
}

/**
 * A journal directory opened for reading: replays committed records of
 * every stream, in order within each stream, streams one after another by
 * id. Stops a stream at the first record that is not committed (torn or not
 * yet written) or whose checksum does not match. Works whether or not a
 * receiver or producers are running.
 */
export class Journal {
  private readonly summaries = new Map<number, StreamSummary>();

  constructor(readonly directory: string) {
    if (!existsSync(directory)) throw new ChannelError("ENOENT", `cannot open journal ${directory}: it does not exist`, { resource: directory });
  }

  /** Stream ids with their segment files, oldest first. */
  streams(): StreamSummary[] {
    const byStream = new Map<number, number[]>();
    for (const n of readdirSync(this.directory)) {
      const p = parseSegmentFile(n);
      if (!p) continue;
      const list = byStream.get(p.stream) ?? [];
      list.push(p.index);
      byStream.set(p.stream, list);
    }
    return [...byStream.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([stream, segments]) => {
        const known = this.summaries.get(stream);
        return { stream, segments: segments.sort((a, b) => a - b), records: known?.records ?? 0, closed: known?.closed ?? false, torn: known?.torn ?? false };
      });
  }

  /** Every committed record after `from`, checked (see ReplayOptions). */
  *replay(options: ReplayOptions = {}): Generator<JournalRecord, void, undefined> {
    const verify = options.verify ?? true;
    for (const { stream, segments } of this.streams()) {
      const summary: StreamSummary = { stream, segments, records: 0, closed: false, torn: false };
      this.summaries.set(stream, summary);
      const from = options.from?.[String(stream)] ?? 0;
      let index = segments[0];
      while (index !== undefined) {
        let seg: MappedSegment;
        try {
          seg = openSegment(segmentFile(stream, index), undefined, { directory: this.directory });
        } catch {
          break;
        }
        seg.close();
        const words = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length >>> 2);
        const bytes = new Uint8Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length);
        // A recycled file renamed to this index before its header was rewritten holds nothing of this index yet.
        if (Atomics.load(words, G_MAGIC) !== SEG_MAGIC || words[G_STREAM] !== stream || words[G_INDEX] !== index) break;
        const marker = commitFor(index);
        const recycled = words[G_REUSED] !== 0;
        let expect = (words[G_SEQ_LO]! >>> 0) + (words[G_SEQ_HI]! >>> 0) * 0x100000000;
        let off = SEGMENT_HEADER;
        let nextIndex: number | undefined;
        for (;;) {
          if (off + RECORD_HEADER > bytes.length) break;
          const w = off >>> 2;
          if (Atomics.load(words, w + R_MARKER) !== marker) {
            // A header written past the last commit is a torn record (in a recycled file, the rest is stale).
            if (recycled) {
              const seq = (words[w + R_SEQ_LO]! >>> 0) + (words[w + R_SEQ_HI]! >>> 0) * 0x100000000;
              if (seq === expect) summary.torn = true;
            } else {
              const end = Math.min(bytes.length, off + RECORD_HEADER);
              for (let i = off; i < end; i++) if (bytes[i] !== 0) summary.torn = true;
            }
            break;
          }
          const kindWord = words[w + R_KIND]!;
          const kind = kindWord & 0xff;
          if (kind === KIND_NEXT) {
            nextIndex = index + 1;
            break;
          }
          if (kind === KIND_BYE) {
            summary.closed = true;
            break;
          }
          if (kind !== KIND_DATA) {
            summary.torn = true;
            break;
          }
          const len = words[w + R_LENGTH]!;
          if (len < 0 || off + RECORD_HEADER + len > bytes.length) {
            summary.torn = true;
            break;
          }
          const start = off + RECORD_HEADER;
          if (verify && sumOf(bytes, start, len, kindWord & 0xff00) !== words[w + R_CHECKSUM]) {
            summary.torn = true;
            break;
          }
          const seq = (words[w + R_SEQ_LO]! >>> 0) + (words[w + R_SEQ_HI]! >>> 0) * 0x100000000;
          summary.records++;
          expect = seq + 1;
          if (seq >= from) yield { stream, seq, data: bytes.subarray(start, start + len) };
          off += RECORD_HEADER + ((len + 7) & ~7);
        }
        // Shrunk while we read it: what looked like its end (zeros) is not.
        if (seg.truncated()) throw truncatedError(path.join(this.directory, segmentFile(stream, index)));
        if (summary.torn || summary.closed) break;
        index = nextIndex;
      }
    }
  }

  /** The position after replaying everything committed now: pass it to a later replay({ from }). */
  endPosition(): JournalPosition {
    const pos: JournalPosition = {};
    for (const r of this.replay({ verify: false })) pos[String(r.stream)] = r.seq + 1;
    return pos;
  }

  /** True when the directory holds a live or left-over control file. */
  get hasControlFile(): boolean {
    return existsSync(path.join(this.directory, CTL_FILE));
  }
}

/** Opens a journal directory for replay. */
export function openJournal(directory: string): Journal {
  return new Journal(directory);
}
