import type { FormatDefinition } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; see validator.ts.
const addFormats = addFormatsModule.default;

/** ajv-formats' own `date-time` (full mode: RFC 3339 with a time zone), the judge of every string. */
const full = addFormats.get('date-time', 'full') as FormatDefinition<string> & { validate: (s: string) => boolean };

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const C0 = 48;

/** The ASCII digit at `i` as a number, or -1. */
function digit(s: string, i: number): number {
  const d = s.charCodeAt(i) - C0;
  return d >= 0 && d <= 9 ? d : -1;
}

function two(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/**
 * True only for the shape chargers send, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, with an
 * ordinary date and time (no leap second). Every such string is one that ajv-formats accepts; for
 * anything else it says false and ajv-formats decides.
 */
export function commonDateTime(s: string): boolean {
  const n = s.length;
  if (n < 20) return false;
  const year = digit(s, 0) * 1000 + digit(s, 1) * 100 + two(s, 2);
  if (digit(s, 0) < 0 || digit(s, 1) < 0 || two(s, 2) < 0) return false;
  const month = two(s, 5);
  const day = two(s, 8);
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS[month]!)) return false;
  const sep = s.charCodeAt(10);
  if (sep !== 84 && sep !== 116) return false; // T or t
  const hr = two(s, 11);
  const min = two(s, 14);
  const sec = two(s, 17);
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || hr < 0 || hr > 23 || min < 0 || min > 59 || sec < 0 || sec > 59) return false;
  let i = 19;
  if (s.charCodeAt(i) === 46) {
    // A fraction: at least one digit.
    i++;
    const start = i;
    while (i < n && digit(s, i) >= 0) i++;
    if (i === start) return false;
  }
  const tz = s.charCodeAt(i);
  if (tz === 90 || tz === 122) return i + 1 === n; // Z or z
  if (tz !== 43 && tz !== 45) return false; // + or -
  const tzH = two(s, i + 1);
  const tzM = two(s, i + 4);
  return i + 6 === n && s.charCodeAt(i + 3) === 58 && tzH >= 0 && tzH <= 23 && tzM >= 0 && tzM <= 59;
}

/**
 * ajv-formats' `date-time`, with the common shape checked by hand first: its split on a regular
 * expression and two more regular expressions were about 2 % of a node's CPU answering MeterValues
 * and Heartbeat (every request and response carries a timestamp). What the fast check does not
 * accept goes to ajv-formats, so what is valid is exactly what ajv-formats says.
 */
export const dateTimeFormat: FormatDefinition<string> & { validate: (s: string) => boolean } = {
  ...full,
  validate: (s: string): boolean => commonDateTime(s) || full.validate(s),
};

export { full as ajvFormatsDateTime };
