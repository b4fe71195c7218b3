'use strict';
// Stand-in for uWebSockets.js: @deepstream/server only requires it for the
// "uws" httpServer type, which swiftlet's benchmark config does not use.
throw new Error('uWebSockets.js is stubbed out in scripts/deepstream; use httpServer type "default"');
