# GitLab's flag mutations over real Flipper, for the publisher's differential test.
#
# A persistent process; one JSON command per line, one JSON answer per line:
#   {"op":"set","env":E,"flag":F,"value":V,"key":"percentage_of_actors"|"percentage_of_time"|null,
#    "targets":[["actor","User:1"],["feature_group","gitlab_team_members"]]}  -> {"ok":bool,"error":...}
#   {"op":"delete","env":E,"flag":F}                                           -> {"ok":true}
#   {"op":"eval","env":E,"flag":F,"actors":[id or {id,properties}],"random":R} -> {"enabled":bool}
#
# `set` is Admin::SetFeatureFlagService#execute (gitlabhq) with Feature's guards
# (lib/feature.rb: enable refuses an opted-out target, remove_opt_out needs one,
# percentages refuse a fully-enabled flag); `delete` is Feature.remove. Each environment is
# its own Flipper instance on the memory adapter. `eval` is Feature.enabled? as in
# oracle.rb (GitLab's current_feature_value over Flipper's gates).
#
# One deliberate difference: GitLab applies targets one by one and stops at the first that
# fails, leaving the earlier ones applied; vexil applies a command completely or not at all.
# So a failing `set` here restores the state it started from.
require_relative 'oracle'

GROUPS = {
  'gitlab_team_members' => { 'Equal' => [{ 'Property' => ['team'] }, 'gitlab'] },
}.freeze

class Environment
  attr_reader :flipper

  def initialize
    @capture = Oracle::Capture.new
    # Flipper wraps the adapter (Memoizable); keep the memory adapter itself to snapshot it.
    @memory = Flipper::Adapters::Memory.new
    @flipper = Flipper.new(@memory, instrumenter: @capture)
  end

  def persisted?(name)
    @flipper.adapter.features.include?(name)
  end

  def opted_out?(name, id)
    persisted?(name) && @flipper[name].actors_value.include?("#{id}:opt_out")
  end

  def set(name, value, key, targets)
    saved = Marshal.load(Marshal.dump(@memory.instance_variable_get(:@source)))
    apply(name, value, key, targets)
  rescue StandardError
    @memory.instance_variable_set(:@source, saved)
    raise
  end

  def apply(name, value, key, targets)
    feature = @flipper[name]
    if targets.any?
      targets.each do |kind, id|
        thing = kind == 'actor' ? Oracle::Actor.new(id, {}) : id.to_sym
        case value
        when 'true', '100', '100.0'
          raise "Opt-out exists for #{id} - remove opt-out before enabling" if kind == 'actor' && opted_out?(name, id)

          kind == 'actor' ? feature.enable_actor(thing) : feature.enable_group(thing)
        when 'false', '0', '0.0'
          kind == 'actor' ? feature.disable_actor(thing) : feature.disable_group(thing)
        when 'opt_out'
          raise 'opt-outs are for actors' unless kind == 'actor'

          feature.enable_actor(Oracle::Actor.new("#{id}:opt_out", {}))
        when 'remove_opt_out'
          raise "No opt-out exists for #{id}" unless kind == 'actor' && opted_out?(name, id)

          feature.disable_actor(Oracle::Actor.new("#{id}:opt_out", {}))
        else
          raise "Cannot set '#{name}' to #{value} for #{id}"
        end
      end
    elsif %w[true 100 100.0].include?(value)
      feature.enable
    elsif %w[false 0 0.0].include?(value)
      feature.disable
    elsif key == 'percentage_of_actors'
      raise 'Cannot enable percentage of actors for a fully-enabled flag' if persisted?(name) && feature.state == :on

      feature.enable_percentage_of_actors(value.to_f)
    elsif value =~ /^\d+(\.\d+)?$/
      raise 'Cannot enable percentage of time for a fully-enabled flag' if persisted?(name) && feature.state == :on

      feature.enable_percentage_of_time(value.to_f)
    else
      raise "invalid value #{value}"
    end
  end

  def delete(name)
    @flipper.remove(name) if persisted?(name)
  end

  def enabled?(name, actors, random)
    spec = { 'flags' => {}, 'groups' => GROUPS, 'cases' => [] }
    if persisted?(name)
      values = @flipper[name].gate_values
      actors_set = values.actors.to_a
      spec['flags'][name] = {
        'type' => 'beta', 'default_enabled' => DEFAULTS.fetch(name, false), 'persisted' => true,
        'boolean' => values.boolean,
        'actors' => actors_set.reject { |a| a.end_with?(':opt_out') },
        'opt_outs' => actors_set.select { |a| a.end_with?(':opt_out') }.map { |a| a.delete_suffix(':opt_out') },
        'groups' => values.groups.to_a,
        'percentage_of_actors' => values.percentage_of_actors.to_s,
        'percentage_of_time' => values.percentage_of_time.to_s,
      }
    else
      spec['flags'][name] = { 'type' => 'beta', 'default_enabled' => DEFAULTS.fetch(name, false), 'persisted' => false }
    end
    Oracle::Suite.new(spec).run('flag' => name, 'actors' => actors, 'random' => random)['enabled']
  end
end

DEFAULTS = {}

envs = Hash.new { |h, k| h[k] = Environment.new }
$stdout.sync = true
$stdin.each_line do |line|
  cmd = JSON.parse(line)
  out = case cmd['op']
        when 'defaults'
          DEFAULTS.merge!(cmd['defaults'])
          { 'ok' => true }
        when 'set'
          begin
            envs[cmd['env']].set(cmd['flag'], cmd['value'], cmd['key'], cmd['targets'] || [])
            { 'ok' => true }
          rescue StandardError => e
            { 'ok' => false, 'error' => e.message }
          end
        when 'delete'
          envs[cmd['env']].delete(cmd['flag'])
          { 'ok' => true }
        when 'eval'
          { 'enabled' => envs[cmd['env']].enabled?(cmd['flag'], cmd['actors'], cmd['random']) }
        when 'state'
          e = envs[cmd['env']]
          v = e.flipper[cmd['flag']].gate_values
          { 'persisted' => e.persisted?(cmd['flag']), 'boolean' => v.boolean, 'actors' => v.actors.to_a,
            'groups' => v.groups.to_a, 'poa' => v.percentage_of_actors, 'pot' => v.percentage_of_time }
        end
  puts JSON.generate(out)
end
