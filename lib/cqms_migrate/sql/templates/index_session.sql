-- a concurrent index build runs outside a transaction: its session's lock and statement timeouts
SET lock_timeout = {lock_timeout};
SET statement_timeout = {statement_timeout}
