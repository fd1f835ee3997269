// First start of the MongoDB container (docker-entrypoint-initdb.d, run by mongosh against
// the image's temporary standalone server, authenticated as the admin): the source database
// and the least-privilege user the Debezium MongoDB connector reads change streams as
// (connectors/mongodb.json: mongodb.user=debezium, mongodb.authsource=admin).
// The password comes from the environment (.env), never from a file.
const password = process.env.CDC_MONGODB_DEBEZIUM_PASSWORD;
if (!password) {
  throw new Error("CDC_MONGODB_DEBEZIUM_PASSWORD is not set");
}
const admin = db.getSiblingDB("admin");

// What Debezium documents for change streams over the whole deployment (capture.scope's
// default): listDatabases, and find + changeStream on the non-system collections; read on
// config and local for the replica set's metadata. No write privilege.
if (!admin.getRole("cdcDebezium")) {
  admin.createRole({
    role: "cdcDebezium",
    privileges: [
      { resource: { cluster: true }, actions: ["listDatabases"] },
      { resource: { db: "", collection: "" }, actions: ["find", "changeStream", "listCollections"] },
    ],
    roles: [
      { role: "read", db: "config" },
      { role: "read", db: "local" },
    ],
  });
}
if (admin.getUser("debezium")) {
  admin.updateUser("debezium", { pwd: password, roles: [{ role: "cdcDebezium", db: "admin" }] });
} else {
  admin.createUser({ user: "debezium", pwd: password, roles: [{ role: "cdcDebezium", db: "admin" }] });
}

// the source database, with the signalling collection of connectors/mongodb.json
const maf = db.getSiblingDB("maf");
if (!maf.getCollectionNames().includes("debezium_signal")) {
  maf.createCollection("debezium_signal");
}
