SELECT {email} AS email, {name} AS name FROM batch
