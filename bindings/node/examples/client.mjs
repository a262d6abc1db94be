// Sends one message and prints the reply as it streams.
// `node examples/client.mjs [ws://127.0.0.1:18800/ws] [message]`
import { connect } from 'clawsocket';

const url = process.argv[2] ?? 'ws://127.0.0.1:18800/ws';
const client = await connect(url, { senderId: 'user1', senderName: 'John' });
const reply = client.send(process.argv[3] ?? 'Hello!');
for await (const part of reply) process.stdout.write(part.delta);
const { text } = await reply.result;
console.log(`\nfinal: ${text}`);
client.close();
