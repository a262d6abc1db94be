'use strict';
// CommonJS entry: the core's classes (native), the ws host and the streaming client.
const native = require('./native.js');
const { serve } = require('./host.js');
const { connect, ChatClient } = require('./client.js');
const { drain } = require('./drain.js');

module.exports = { ...native, drain, serve, connect, ChatClient };
