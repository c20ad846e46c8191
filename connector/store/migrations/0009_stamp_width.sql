-- Version 9: stamps written before version 8 kept RFC3339Nano's variable
-- width (trailing zeros dropped: ".1Z", ".12Z", no fraction at all), whose
-- text order is not their time order (".12Z" sorts before ".1Z", ".1Z"
-- before "Z"), and lists are ordered by them. Every stamp the store wrote
-- gets the nine fraction digits stamps have had since (30 characters);
-- signed_at and due, which carry times from elsewhere, are left as they are.
UPDATE datasets SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE datasets SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE offers SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE offers SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE negotiations SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE negotiations SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE negotiations SET updated_at = substr(updated_at, 1, 19) || '.' || substr(substr(updated_at, 21, length(updated_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE updated_at LIKE '____-__-__T__:__:__.%Z' AND length(updated_at) < 30;
UPDATE negotiations SET updated_at = substr(updated_at, 1, 19) || '.000000000Z' WHERE updated_at LIKE '____-__-__T__:__:__Z';
UPDATE transitions SET at = substr(at, 1, 19) || '.' || substr(substr(at, 21, length(at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE at LIKE '____-__-__T__:__:__.%Z' AND length(at) < 30;
UPDATE transitions SET at = substr(at, 1, 19) || '.000000000Z' WHERE at LIKE '____-__-__T__:__:__Z';
UPDATE agreements SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE agreements SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE agreements SET updated_at = substr(updated_at, 1, 19) || '.' || substr(substr(updated_at, 21, length(updated_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE updated_at LIKE '____-__-__T__:__:__.%Z' AND length(updated_at) < 30;
UPDATE agreements SET updated_at = substr(updated_at, 1, 19) || '.000000000Z' WHERE updated_at LIKE '____-__-__T__:__:__Z';
UPDATE transfers SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE transfers SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE transfers SET updated_at = substr(updated_at, 1, 19) || '.' || substr(substr(updated_at, 21, length(updated_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE updated_at LIKE '____-__-__T__:__:__.%Z' AND length(updated_at) < 30;
UPDATE transfers SET updated_at = substr(updated_at, 1, 19) || '.000000000Z' WHERE updated_at LIKE '____-__-__T__:__:__Z';
UPDATE duties SET updated_at = substr(updated_at, 1, 19) || '.' || substr(substr(updated_at, 21, length(updated_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE updated_at LIKE '____-__-__T__:__:__.%Z' AND length(updated_at) < 30;
UPDATE duties SET updated_at = substr(updated_at, 1, 19) || '.000000000Z' WHERE updated_at LIKE '____-__-__T__:__:__Z';
UPDATE outbox SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE outbox SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE outbox SET updated_at = substr(updated_at, 1, 19) || '.' || substr(substr(updated_at, 21, length(updated_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE updated_at LIKE '____-__-__T__:__:__.%Z' AND length(updated_at) < 30;
UPDATE outbox SET updated_at = substr(updated_at, 1, 19) || '.000000000Z' WHERE updated_at LIKE '____-__-__T__:__:__Z';
UPDATE batches SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE batches SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE tasks SET created_at = substr(created_at, 1, 19) || '.' || substr(substr(created_at, 21, length(created_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE created_at LIKE '____-__-__T__:__:__.%Z' AND length(created_at) < 30;
UPDATE tasks SET created_at = substr(created_at, 1, 19) || '.000000000Z' WHERE created_at LIKE '____-__-__T__:__:__Z';
UPDATE schema_migrations SET applied_at = substr(applied_at, 1, 19) || '.' || substr(substr(applied_at, 21, length(applied_at) - 21) || '000000000', 1, 9) || 'Z'
  WHERE applied_at LIKE '____-__-__T__:__:__.%Z' AND length(applied_at) < 30;
UPDATE schema_migrations SET applied_at = substr(applied_at, 1, 19) || '.000000000Z' WHERE applied_at LIKE '____-__-__T__:__:__Z';
