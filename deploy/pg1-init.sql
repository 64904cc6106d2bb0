-- pg1 holds the catalog and the first shard database (as in make run).
CREATE DATABASE medcard_shard1;
