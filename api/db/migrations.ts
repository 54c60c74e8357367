/**
 * The schema, as an ordered list of migrations kept in code (no migration
 * files to ship or find at run time). knex records which ones ran in
 * `knex_migrations`; add a new entry for every change, never edit one that
 * has shipped.
 *
 * Conventions: timestamps are ISO-8601 UTC strings (portable between
 * SQLite and PostgreSQL, and they sort); structured values are JSON text;
 * booleans come back as 0/1 from SQLite and true/false from PostgreSQL, so
 * readers wrap them in Boolean().
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';

interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
}

const timestamps = (t: Knex.CreateTableBuilder) => {
  t.string('created_at', 32).notNullable();
  t.string('updated_at', 32).nullable();
};

const MIGRATIONS: Migration[] = [
  {
    name: '0001_initial',
    async up(db) {
      await db.schema.createTable('flavors', (t) => {
        t.increments('id');
        t.string('flavorid', 255).notNullable().unique();
        t.string('name', 255).notNullable().unique();
        t.integer('memory_mb').notNullable();
        t.integer('vcpus').notNullable();
        t.integer('root_gb').notNullable();
        t.integer('ephemeral_gb').notNullable().defaultTo(0);
        t.integer('swap').notNullable().defaultTo(0);
        t.float('rxtx_factor').notNullable().defaultTo(1.0);
        t.boolean('is_public').notNullable().defaultTo(true);
        t.boolean('disabled').notNullable().defaultTo(false);
        t.text('description').nullable();
        t.text('extra_specs').notNullable().defaultTo('{}');
        timestamps(t);
      });
      await db.schema.createTable('instances', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('project_id', 255).notNullable();
        t.string('user_id', 255).notNullable();
        t.string('display_name', 255).notNullable();
        t.text('display_description').nullable();
        t.string('hostname', 255).notNullable();
        t.string('host', 255).nullable();
        t.string('node', 255).nullable();
        t.string('availability_zone', 255).nullable();
        t.string('flavorid', 255).notNullable();
        t.text('flavor').notNullable();
        t.string('image_ref', 255).notNullable();
        t.string('key_name', 255).nullable();
        t.text('key_data').nullable();
        t.string('vm_state', 32).notNullable();
        t.string('task_state', 32).nullable();
        t.integer('power_state').notNullable().defaultTo(0);
        t.text('metadata').notNullable().defaultTo('{}');
        t.text('tags').notNullable().defaultTo('[]');
        t.text('user_data').nullable();
        t.string('access_ip_v4', 64).notNullable().defaultTo('');
        t.string('access_ip_v6', 64).notNullable().defaultTo('');
        t.string('reservation_id', 64).notNullable();
        t.integer('launch_index').notNullable().defaultTo(0);
        t.boolean('locked').notNullable().defaultTo(false);
        t.string('locked_by', 16).nullable();
        t.text('locked_reason').nullable();
        // What the scheduler needs again on a reschedule: hints, group, requested zone.
        t.text('request_spec').notNullable().defaultTo('{}');
        t.integer('attempts').notNullable().defaultTo(0);
        t.text('tried_hosts').notNullable().defaultTo('[]');
        // The latest fault: {code, message, details, created_at}.
        t.text('fault').nullable();
        t.string('launched_at', 32).nullable();
        t.string('terminated_at', 32).nullable();
        t.boolean('deleted').notNullable().defaultTo(false);
        t.string('deleted_at', 32).nullable();
        timestamps(t);
        t.index(['project_id', 'deleted']);
        t.index(['host', 'deleted']);
        t.index(['updated_at']);
      });
      await db.schema.createTable('services', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('host', 255).notNullable();
        t.string('binary', 255).notNullable();
        t.string('topic', 255).notNullable();
        t.integer('report_count').notNullable().defaultTo(0);
        t.boolean('disabled').notNullable().defaultTo(false);
        t.text('disabled_reason').nullable();
        t.boolean('forced_down').notNullable().defaultTo(false);
        t.integer('version').notNullable().defaultTo(0);
        t.string('availability_zone', 255).notNullable();
        t.string('last_seen_up', 32).nullable();
        timestamps(t);
        t.unique(['host', 'binary']);
      });
      await db.schema.createTable('compute_nodes', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('host', 255).notNullable().unique();
        t.string('hypervisor_hostname', 255).notNullable();
        t.string('hypervisor_type', 255).notNullable();
        t.integer('hypervisor_version').notNullable().defaultTo(0);
        t.string('host_ip', 64).notNullable().defaultTo('');
        t.integer('vcpus').notNullable();
        t.integer('memory_mb').notNullable();
        t.integer('local_gb').notNullable();
        t.integer('vcpus_used').notNullable().defaultTo(0);
        t.integer('memory_mb_used').notNullable().defaultTo(0);
        t.integer('local_gb_used').notNullable().defaultTo(0);
        t.integer('running_vms').notNullable().defaultTo(0);
        // Bumped by every claim, as placement's resource provider generation:
        // a claim that read an older generation retries instead of overcommitting.
        t.integer('generation').notNullable().defaultTo(0);
        timestamps(t);
      });
      await db.schema.createTable('allocations', (t) => {
        t.increments('id');
        t.string('instance_uuid', 36).notNullable().unique();
        t.string('host', 255).notNullable().index();
        t.integer('vcpus').notNullable();
        t.integer('memory_mb').notNullable();
        t.integer('disk_gb').notNullable();
        t.string('created_at', 32).notNullable();
      });
      await db.schema.createTable('server_groups', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('name', 255).notNullable();
        t.string('project_id', 255).notNullable().index();
        t.string('user_id', 255).notNullable();
        t.string('policy', 32).notNullable();
        t.text('rules').notNullable().defaultTo('{}');
        timestamps(t);
      });
      await db.schema.createTable('server_group_members', (t) => {
        t.increments('id');
        t.string('group_uuid', 36).notNullable().index();
        t.string('instance_uuid', 36).notNullable().index();
        t.unique(['group_uuid', 'instance_uuid']);
      });
      await db.schema.createTable('key_pairs', (t) => {
        t.increments('id');
        t.string('name', 255).notNullable();
        t.string('user_id', 255).notNullable();
        t.string('project_id', 255).notNullable();
        t.string('fingerprint', 255).notNullable();
        t.text('public_key').notNullable();
        t.string('type', 16).notNullable().defaultTo('ssh');
        timestamps(t);
        t.unique(['user_id', 'name']);
      });
      await db.schema.createTable('quotas', (t) => {
        t.increments('id');
        t.string('project_id', 255).notNullable();
        t.string('resource', 255).notNullable();
        t.integer('hard_limit').notNullable();
        timestamps(t);
        t.unique(['project_id', 'resource']);
      });
      await db.schema.createTable('instance_actions', (t) => {
        t.increments('id');
        t.string('action', 255).notNullable();
        t.string('instance_uuid', 36).notNullable().index();
        t.string('request_id', 255).notNullable();
        t.string('user_id', 255).nullable();
        t.string('project_id', 255).nullable();
        t.string('start_time', 32).notNullable();
        t.string('finish_time', 32).nullable();
        t.text('message').nullable();
        t.string('updated_at', 32).nullable();
      });
      await db.schema.createTable('instance_actions_events', (t) => {
        t.increments('id');
        t.integer('action_id').notNullable().references('id').inTable('instance_actions');
        t.string('event', 255).notNullable();
        t.string('start_time', 32).notNullable();
        t.string('finish_time', 32).nullable();
        t.string('result', 255).nullable();
        t.text('traceback').nullable();
        t.string('host', 255).nullable();
        t.text('details').nullable();
        t.index(['action_id']);
      });
    },
  },
  {
    // The embedded network service (api/network): Neutron's resources as
    // documents (their wire attributes are many and mostly opaque to SQL),
    // with the columns lookups and uniqueness need kept apart.
    name: '0002_network',
    async up(db) {
      await db.schema.createTable('network_resources', (t) => {
        // Neutron's standard_attr_id: one sequence over every kind.
        t.increments('standard_attr_id');
        t.string('kind', 32).notNullable();
        t.string('id', 36).notNullable().unique();
        t.string('project_id', 255).notNullable();
        // The network of a subnet or port, the group of a rule, the floating IP of a port forwarding.
        t.string('parent_id', 255).notNullable().defaultTo('');
        t.string('device_id', 255).notNullable().defaultTo('');
        // What must be unique among a parent's children: a port's MAC, a network's VNI, a rule's signature.
        t.string('unique_key', 255).nullable();
        t.text('body').notNullable();
        t.text('tags').notNullable().defaultTo('[]');
        t.integer('revision_number').notNullable().defaultTo(0);
        timestamps(t);
        t.unique(['kind', 'parent_id', 'unique_key']);
        t.index(['kind', 'project_id']);
        t.index(['kind', 'parent_id']);
        t.index(['device_id']);
      });
      await db.schema.createTable('network_ip_allocations', (t) => {
        t.string('subnet_id', 36).notNullable();
        t.string('ip_address', 64).notNullable();
        t.string('network_id', 36).notNullable().index();
        // a port, or a floating IP (which holds its address without a port)
        t.string('owner_id', 36).notNullable().index();
        t.primary(['subnet_id', 'ip_address']);
      });
      await db.schema.createTable('network_quotas', (t) => {
        t.string('project_id', 255).notNullable();
        t.string('resource', 64).notNullable();
        t.integer('hard_limit').notNullable();
        t.primary(['project_id', 'resource']);
      });
      await db.schema.createTable('network_agents', (t) => {
        t.string('host', 255).primary();
        t.string('tunnel_ip', 64).notNullable();
        t.string('updated_at', 32).notNullable();
      });
      // One row: the revision every committed change bumps (computes compare it), and `public`'s id.
      await db.schema.createTable('network_state', (t) => {
        t.integer('id').primary();
        t.integer('revision').notNullable();
        t.string('public_network_id', 36).nullable();
      });
      await db('network_state').insert({ id: 1, revision: 0, public_network_id: null });
    },
  },
  {
    // The embedded block-storage service (api/volume): Cinder's volumes,
    // their attachments to servers, snapshots, types and quotas. A volume
    // lives on one compute host (`host`), which holds its file.
    name: '0003_volumes',
    async up(db) {
      await db.schema.createTable('volume_types', (t) => {
        t.string('id', 36).primary();
        t.string('name', 255).notNullable().unique();
        t.text('description').nullable();
        t.boolean('is_public').notNullable().defaultTo(true);
        t.text('extra_specs').notNullable().defaultTo('{}');
        timestamps(t);
      });
      // Cinder's __DEFAULT__ type, under the name clients see for it here.
      await db('volume_types').insert({
        id: randomUUID(),
        name: 'default',
        description: 'Default Volume Type',
        is_public: true,
        extra_specs: '{}',
        created_at: new Date().toISOString(),
      });
      await db.schema.createTable('volumes', (t) => {
        t.string('id', 36).primary();
        t.string('project_id', 255).notNullable().index();
        t.string('user_id', 255).notNullable();
        t.string('name', 255).nullable();
        t.text('description').nullable();
        t.integer('size').notNullable();
        t.string('status', 32).notNullable();
        // Why the last operation failed (status error, or an action refused by the host).
        t.text('status_reason').nullable();
        t.string('host', 255).nullable();
        t.string('availability_zone', 255).notNullable();
        t.string('volume_type_id', 36).notNullable();
        t.boolean('bootable').notNullable().defaultTo(false);
        t.boolean('readonly').notNullable().defaultTo(false);
        t.boolean('multiattach').notNullable().defaultTo(false);
        t.string('snapshot_id', 36).nullable();
        t.text('metadata').notNullable().defaultTo('{}');
        timestamps(t);
      });
      await db.schema.createTable('volume_attachments', (t) => {
        t.string('id', 36).primary();
        t.string('volume_id', 36).notNullable().index();
        t.string('instance_uuid', 36).notNullable().index();
        t.string('attached_host', 255).nullable();
        // Nova's /dev/vdX name, and where the compute mounts the filesystem in the instance.
        t.string('device', 255).notNullable();
        t.string('mount_point', 255).notNullable();
        t.string('tag', 60).nullable();
        t.boolean('delete_on_termination').notNullable().defaultTo(false);
        t.string('attached_at', 32).nullable();
        t.unique(['volume_id', 'instance_uuid']);
      });
      await db.schema.createTable('volume_snapshots', (t) => {
        t.string('id', 36).primary();
        t.string('project_id', 255).notNullable().index();
        t.string('user_id', 255).notNullable();
        t.string('volume_id', 36).notNullable().index();
        t.string('name', 255).nullable();
        t.text('description').nullable();
        t.integer('size').notNullable();
        t.string('status', 32).notNullable();
        t.text('metadata').notNullable().defaultTo('{}');
        timestamps(t);
      });
      await db.schema.createTable('volume_quotas', (t) => {
        t.string('project_id', 255).notNullable();
        t.string('resource', 64).notNullable();
        t.integer('hard_limit').notNullable();
        t.primary(['project_id', 'resource']);
      });
    },
  },
  {
    name: '0004_console_auth_tokens',
    async up(db) {
      // Only the token's SHA-256 is kept: a copy of the database opens no console.
      await db.schema.createTable('console_auth_tokens', (t) => {
        t.string('token_hash', 64).primary();
        t.string('instance_uuid', 36).notNullable().index();
        t.string('project_id', 255).notNullable();
        t.string('console_type', 32).notNullable();
        t.string('host', 255).notNullable();
        t.integer('port').notNullable();
        t.string('internal_access_path', 255).nullable();
        t.bigInteger('expires_ms').notNullable();
        // Kept once used until it expires, so that a second use is told apart from a typo.
        t.boolean('consumed').notNullable().defaultTo(false);
      });
    },
  },
  {
    name: '0005_server_lifecycle',
    async up(db) {
      // Nova's migrations table (the rows os-migrations lists): berth makes
      // them for resizes, which stay on the instance's host.
      await db.schema.createTable('migrations', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('instance_uuid', 36).notNullable().index();
        t.string('project_id', 255).notNullable();
        t.string('user_id', 255).notNullable();
        t.string('source_compute', 255).nullable();
        t.string('source_node', 255).nullable();
        t.string('dest_compute', 255).nullable();
        t.string('dest_node', 255).nullable();
        t.string('dest_host', 255).nullable();
        t.integer('old_instance_type_id').nullable();
        t.integer('new_instance_type_id').nullable();
        // The FlavorSnapshot of each side (JSON), for revert and confirm.
        t.text('old_flavor').notNullable();
        t.text('new_flavor').notNullable();
        t.string('migration_type', 32).notNullable();
        t.string('status', 32).notNullable();
        t.boolean('deleted').notNullable().defaultTo(false);
        timestamps(t);
      });
    },
  },
  {
    // Nova's host aggregates: named groups of compute hosts with metadata,
    // an `availability_zone` key among it making the group a zone.
    name: '0006_aggregates',
    async up(db) {
      await db.schema.createTable('aggregates', (t) => {
        t.increments('id');
        t.string('uuid', 36).notNullable().unique();
        t.string('name', 255).notNullable().unique();
        timestamps(t);
      });
      await db.schema.createTable('aggregate_hosts', (t) => {
        t.integer('aggregate_id').notNullable().references('aggregates.id').onDelete('CASCADE');
        t.string('host', 255).notNullable();
        t.primary(['aggregate_id', 'host']);
      });
      await db.schema.createTable('aggregate_metadata', (t) => {
        t.integer('aggregate_id').notNullable().references('aggregates.id').onDelete('CASCADE');
        t.string('key', 255).notNullable();
        t.string('value', 255).notNullable();
        t.primary(['aggregate_id', 'key']);
      });
    },
  },
  {
    name: '0007_flavor_access',
    async up(db) {
      // Nova's flavor_projects: the projects a private flavor is for (flavors.id, not flavorid).
      await db.schema.createTable('flavor_projects', (t) => {
        t.increments('id');
        t.integer('flavor_id').notNullable().index();
        t.string('project_id', 255).notNullable().index();
        timestamps(t);
        t.unique(['flavor_id', 'project_id']);
      });
    },
  },
  {
    name: '0008_quota_classes',
    async up(db) {
      // Nova's quota_classes: the "default" class's rows override [quota] for every project.
      await db.schema.createTable('quota_classes', (t) => {
        t.string('class_name', 255).notNullable();
        t.string('resource', 255).notNullable();
        t.integer('hard_limit').notNullable();
        timestamps(t);
        t.primary(['class_name', 'resource']);
      });
    },
  },
  {
    name: '0009_project_user_quotas',
    async up(db) {
      // Nova's project_user_quotas: a user's own limits within a project, at most the project's.
      await db.schema.createTable('project_user_quotas', (t) => {
        t.string('project_id', 255).notNullable();
        t.string('user_id', 255).notNullable();
        t.string('resource', 255).notNullable();
        t.integer('hard_limit').notNullable();
        timestamps(t);
        t.primary(['project_id', 'user_id', 'resource']);
      });
    },
  },
  {
    name: '0010_volume_image_metadata',
    async up(db) {
      // Cinder's volume_glance_metadata: the image a bootable volume was made from (JSON).
      await db.schema.alterTable('volumes', (t) => t.text('image_metadata').nullable());
    },
  },
  {
    name: '0011_auto_disk_config',
    async up(db) {
      // Nova's OS-DCF:diskConfig, AUTO or MANUAL as the server was made, rebuilt or resized.
      await db.schema.alterTable('instances', (t) =>
        t.boolean('auto_disk_config').notNullable().defaultTo(false),
      );
    },
  },
  {
    name: '0012_leases',
    async up(db) {
      // Duties one API process of many does (see api/db/leases.ts); expires_at in epoch ms.
      await db.schema.createTable('leases', (t) => {
        t.string('name', 64).primary();
        t.string('holder', 255).notNullable();
        t.bigInteger('expires_at').notNullable();
      });
      // The stale-build scan reads unplaced instances in a scheduling task.
      await db.schema.alterTable('instances', (t) => t.index(['task_state', 'host']));
    },
  },
];

class CodeMigrationSource implements Knex.MigrationSource<Migration> {
  async getMigrations() {
    return MIGRATIONS;
  }
  getMigrationName(m: Migration) {
    return m.name;
  }
  async getMigration(m: Migration): Promise<Knex.Migration> {
    return { up: (db) => m.up(db), down: async () => undefined };
  }
}

/** Applies every migration not yet applied; safe to run on each start and from several processes. */
export async function migrate(db: Knex): Promise<void> {
  await db.migrate.latest({ migrationSource: new CodeMigrationSource() });
}
