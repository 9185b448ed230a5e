CREATE INDEX IF NOT EXISTS {name} ON ONLY {table} {definition}
