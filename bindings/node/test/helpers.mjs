// Shared helpers for the socket tests: a raw WebSocket peer that records every frame.
import WebSocket from 'ws';

/** A raw ws client: `next(pred)` resolves with the first unread frame matching `pred`. */
export async function peer(url) {
  const ws = new WebSocket(url);
  const frames = [];
  const waiters = [];
  let closeInfo = null;
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString() };
      resolve(closeInfo);
      for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} while waiting`));
    });
  });
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()));
    for (const w of [...waiters]) w.check();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let cursor = 0;
  return {
    ws,
    frames,
    closed,
    send(frame) {
      ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    },
    /** The next frame (after the last one returned) for which pred holds; earlier ones are skipped. */
    next(pred = () => true) {
      return new Promise((resolve, reject) => {
        const waiter = {
          reject,
          check() {
            while (cursor < frames.length) {
              const f = frames[cursor++];
              if (pred(f)) {
                waiters.splice(waiters.indexOf(waiter), 1);
                resolve(f);
                return;
              }
            }
            if (closeInfo) {
              waiters.splice(waiters.indexOf(waiter), 1);
              reject(new Error(`closed ${closeInfo.code} while waiting`));
            }
          },
        };
        waiters.push(waiter);
        waiter.check();
      });
    },
    close() {
      ws.close();
      return closed;
    },
  };
}

export const isType = (type) => (f) => f.type === type;

/** A promise with its resolve function, for agents that wait for the test. */
export function gate() {
  let open;
  const promise = new Promise((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
