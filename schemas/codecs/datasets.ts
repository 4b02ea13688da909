/**
 * The records of a batch data set, read one chunk at a time. The file is indexed once (where each
 * record starts: a scan for newlines, or arithmetic for NPY) and each record is parsed only when
 * its chunk runs, so a large data set never becomes one huge parse on the event loop.
 *
 * - NDJSON (`.ndjson`, `.jsonl`): each non-empty line is the `inputs` of one run, exactly as the
 *   run route takes them. Records are numbered by their line in the file.
 * - CSV (`.csv`): each row of numbers is one record, run as a batch of one (`[[x1, x2, ...]]`); a
 *   first line that is not all numbers is a header. Records are numbered by their line.
 * - NPY (`.npy`, NumPy's format 1.0/2.0/3.0, little-endian bool/int/uint/float, C order): each
 *   slice along the first axis is one record, run as a batch of one; numbered from 1.
 *
 * In the kernel because the hub's batch runner, the endpoint's job array tasks and the SDK all
 * speak it (formats, records, and the progress a batch task reports).
 */
import { HubError } from '../errors.ts';

export const DATASET_FORMATS = ['ndjson', 'csv', 'npy'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** A record's inputs, or why it has none. */
export type BatchRecord = { line: number; inputs: unknown } | { line: number; error: string };

/** A batch task's `progress`, as the hub records it and the SDK reads it. */
export interface BatchProgress {
  total: number;
  done: number;
  failed: number;
  chunks: number;
  chunks_done: number;
  records_per_s: number;
  eta_s: number | null;
}

export interface Dataset {
  readonly total: number;
  /** Records [from, to) by position. */
  records(from: number, to: number): BatchRecord[];
}

export function formatOfFilename(filename: string): DatasetFormat | undefined {
  const lower = filename.toLowerCase();
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.npy')) return 'npy';
  return undefined;
}

export function openDataset(bytes: Buffer, format: DatasetFormat): Dataset {
  switch (format) {
    case 'ndjson':
      return linesDataset(bytes, (text, line) => {
        try {
          return { line, inputs: JSON.parse(text) as unknown };
        } catch (error) {
          return { line, error: `line ${line} is not JSON: ${(error as Error).message}` };
        }
      });
    case 'csv':
      return csvDataset(bytes);
    case 'npy':
      return npyDataset(bytes);
  }
}

/** Every non-empty line, with its 1-based line number. */
function indexLines(bytes: Buffer): { start: number; end: number; line: number }[] {
  const lines: { start: number; end: number; line: number }[] = [];
  let start = 0;
  let line = 1;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    let stop = end;
    if (stop > start && bytes[stop - 1] === 0x0d) stop -= 1;
    // Blank lines (a trailing newline, an empty line between records) are not records.
    if (bytes.subarray(start, stop).toString('utf8').trim() !== '') lines.push({ start, end: stop, line });
    start = end + 1;
    line += 1;
  }
  return lines;
}

function linesDataset(bytes: Buffer, parse: (text: string, line: number) => BatchRecord, skipFirst = false): Dataset {
  const lines = indexLines(bytes).slice(skipFirst ? 1 : 0);
  return {
    total: lines.length,
    records: (from, to) => lines.slice(from, to).map(({ start, end, line }) => parse(bytes.subarray(start, end).toString('utf8'), line)),
  };
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function csvDataset(bytes: Buffer): Dataset {
  const first = indexLines(bytes)[0];
  const header = first !== undefined && bytes.subarray(first.start, first.end).toString('utf8').split(',').some((cell) => !NUMBER.test(cell.trim()));
  return linesDataset(
    bytes,
    (text, line) => {
      const cells = text.split(',').map((cell) => cell.trim());
      const bad = cells.findIndex((cell) => !NUMBER.test(cell));
      if (bad >= 0) return { line, error: `line ${line}, column ${bad + 1} is not a number: ${JSON.stringify(cells[bad]!.slice(0, 40))}` };
      return { line, inputs: [cells.map(Number)] };
    },
    header,
  );
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
const NPY_TYPES: Record<string, { size: number; read: (view: DataView, at: number) => number | boolean }> = {
  '<f8': { size: 8, read: (v, at) => v.getFloat64(at, true) },
  '<f4': { size: 4, read: (v, at) => v.getFloat32(at, true) },
  '<i8': { size: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  '<i4': { size: 4, read: (v, at) => v.getInt32(at, true) },
  '<i2': { size: 2, read: (v, at) => v.getInt16(at, true) },
  '|i1': { size: 1, read: (v, at) => v.getInt8(at) },
  '<u8': { size: 8, read: (v, at) => Number(v.getBigUint64(at, true)) },
  '<u4': { size: 4, read: (v, at) => v.getUint32(at, true) },
  '<u2': { size: 2, read: (v, at) => v.getUint16(at, true) },
  '|u1': { size: 1, read: (v, at) => v.getUint8(at) },
  '|b1': { size: 1, read: (v, at) => v.getUint8(at) !== 0 },
};

function npyDataset(bytes: Buffer): Dataset {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(NPY_MAGIC)) throw new HubError('BAD_REQUEST', 'the data set is not an NPY file (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.subarray(headerStart, headerStart + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const type = descr === undefined ? undefined : NPY_TYPES[descr];
  if (!type || shapeText === undefined) throw new HubError('BAD_REQUEST', `the NPY header is not one this hub reads (${header.trim().slice(0, 120)}): little-endian numbers or booleans`);
  if (fortran) throw new HubError('BAD_REQUEST', 'the NPY array is in Fortran order: save it in C order (numpy.ascontiguousarray)');
  const shape = shapeText.split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  if (shape.length === 0) throw new HubError('BAD_REQUEST', 'the NPY array is a scalar: it needs a first axis of records');
  const dataStart = headerStart + headerLength;
  const recordShape = shape.slice(1);
  const recordSize = recordShape.reduce((a, b) => a * b, 1);
  const total = shape[0]!;
  if (bytes.length < dataStart + total * recordSize * type.size) throw new HubError('BAD_REQUEST', `the NPY file is shorter than its shape ${JSON.stringify(shape)} needs`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nest = (at: number, dims: number[]): unknown => {
    if (dims.length === 0) return type.read(view, at);
    const [size, ...rest] = dims;
    const step = rest.reduce((a, b) => a * b, 1) * type.size;
    return Array.from({ length: size! }, (_, i) => nest(at + i * step, rest));
  };
  return {
    total,
    records: (from, to) =>
      Array.from({ length: Math.max(0, Math.min(to, total) - from) }, (_, i) => {
        const index = from + i;
        return { line: index + 1, inputs: [nest(dataStart + index * recordSize * type.size, recordShape)] };
      }),
  };
}
