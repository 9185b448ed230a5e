DROP INDEX {concurrently} IF EXISTS {name}
