#!/usr/bin/env bash
# Healthy when this node is PRIMARY of replica set rs0. The first calls initiate the set
# (idempotent: only when the node reports NotYetInitialized). The password is read from the
# environment inside mongosh, so it never appears on a command line.
set -euo pipefail
exec mongosh --quiet --norc 'mongodb://127.0.0.1:27017/admin?directConnection=true' --eval '
  const admin = db.getSiblingDB("admin");
  admin.auth(process.env.MONGO_INITDB_ROOT_USERNAME, process.env.MONGO_INITDB_ROOT_PASSWORD);
  let state;
  try {
    state = rs.status().myState;
  } catch (e) {
    if (e.codeName !== "NotYetInitialized") throw e;
    const host = process.env.CDC_MONGODB_REPLICA_HOST || "mongodb:27017";
    rs.initiate({ _id: "rs0", members: [{ _id: 0, host: host }] });
    quit(1);
  }
  quit(state === 1 ? 0 : 1);
'
