//! `packages/socket.io/test/socket.ts`: being ported (interop/PARITY.md lists its scenarios as
//! not yet ported).
