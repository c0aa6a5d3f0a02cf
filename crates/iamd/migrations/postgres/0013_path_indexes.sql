-- ListUsers, ListRoles and ListGroups with PathPrefix read a range of these indexes (see
-- domain::PathRange). The range compares bytes, whatever the database's collation, so the path
-- column is indexed with the "C" collation; users' older index (default collation) is replaced.
DROP INDEX users_by_path;
CREATE INDEX users_by_path ON users (account_id, path COLLATE "C", name_lower);
CREATE INDEX roles_by_path ON roles (account_id, path COLLATE "C", name_lower);
CREATE INDEX groups_by_path ON groups (account_id, path COLLATE "C", name_lower);
