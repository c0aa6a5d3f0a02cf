-- ListUsers, ListRoles and ListGroups with PathPrefix read a range of these indexes (see
-- domain::PathRange): users had one already, roles and groups get theirs.
CREATE INDEX roles_by_path ON roles (account_id, path, name_lower);
CREATE INDEX groups_by_path ON groups (account_id, path, name_lower);
