'use strict';
// drain(server): every pending transmit and event of a native Server in one Node-API call.
// It returns the same objects as pollTransmits() and pollEvents(), built here in JavaScript,
// where creating them is cheap (through Node-API each object and string is a separate,
// slow crossing). The record format is documented on Server.drainEncoded (src/server.rs).

const SPACE = 32;
const COLON = 58;
const DASH = 45;

/** Every pending output of `server` (a native Server) as `{ transmits, events }`. */
function drain(server) {
  return decode(server.drainEncoded());
}

/** Decodes the string `Server.drainEncoded()` returned. */
function decode(encoded) {
  const transmits = [];
  const events = [];
  const reader = { text: encoded, at: 0 };
  while (reader.at < encoded.length) {
    const tag = encoded.charCodeAt(reader.at);
    reader.at += 2; // tag and space
    if (tag === 84 /* T */) {
      const connection = number(reader);
      transmits.push({ connection, text: payload(reader) });
    } else if (tag === 67 /* C */) {
      const connection = number(reader);
      const code = number(reader);
      transmits.push({ connection, close: { code, reason: payload(reader) } });
    } else if (tag === 69 /* E */) {
      const space = encoded.indexOf(' ', reader.at);
      if (space < 0) malformed();
      const event = { kind: encoded.slice(reader.at, space), json: '' };
      reader.at = space + 1;
      const connection = number(reader);
      const turn = number(reader);
      const request = number(reader);
      event.json = payload(reader);
      if (connection !== null) event.connection = connection;
      if (turn !== null) event.turn = turn;
      if (request !== null) event.request = request;
      events.push(event);
    } else {
      malformed();
    }
  }
  return { transmits, events };
}

/** A decimal number (or `-` for none) ended by a space or a colon, which it consumes. */
function number(reader) {
  const { text } = reader;
  let at = reader.at;
  let value = 0;
  let c = text.charCodeAt(at);
  if (c === DASH) {
    reader.at = at + 2;
    return null;
  }
  while (c !== SPACE && c !== COLON) {
    if (!(c >= 48 && c <= 57)) malformed();
    value = value * 10 + (c - 48);
    c = text.charCodeAt(++at);
  }
  reader.at = at + 1;
  return value;
}

/** `<length>:<payload>`. */
function payload(reader) {
  const length = number(reader);
  const start = reader.at;
  reader.at = start + length;
  if (length === null || reader.at > reader.text.length) malformed();
  return reader.text.slice(start, reader.at);
}

function malformed() {
  throw new Error('clawsocket: malformed drainEncoded output');
}

module.exports = { drain, decode };
