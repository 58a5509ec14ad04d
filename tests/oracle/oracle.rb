# The semantic oracle for vexil: GitLab's Feature.enabled? over real Flipper.
#
# Reads JSON lines, one suite per line:
#   {"flags": {name: flag}, "groups": {name: expression}, "cases": [{flag, actors, random, now}]}
# and writes one line per suite: {"results": [{"enabled", "reason", "bucket", "derived"}]}.
#
# What is real and what is derived:
# - Cases with at most one actor on flags without an expression run through Flipper 0.25
#   itself (Debian's ruby-flipper; GitLab runs 0.26, which buckets identically): boolean,
#   actor, percentage-of-actors, percentage-of-time and group gates, Flipper's typecasting,
#   its gate order and the gate it reports. Percentage of time uses the case's random draw
#   in place of Kernel#rand.
# - GitLab's layer is GitLab's code, transcribed from lib/feature.rb (current_feature_value):
#   default_enabled while not persisted, opt-out as "<id>:opt_out" actor entries.
# - Several actors (Flipper >= 0.28) and the expression gate (Flipper >= 1.1) do not exist in
#   0.25. Those cases are "derived": evaluated by the transcription below of Flipper 1.4's
#   gates and expressions, run on Ruby's own values and operators, so type rules (1 == 1.0,
#   "25" > 21 raising, nil != "x") are Ruby's, not ours. Comparisons that raise count as
#   false (Flipper PR #1017); other raises make the expression not hold (vexil's rule).
# Feature groups are vexil data (a Flipper expression over the actor's properties), so the
# registered Flipper group blocks evaluate them with the same transcription.
require 'json'
require 'set'
require 'time'
require 'zlib'
require 'flipper'
require 'flipper/adapters/memory'

ENV['TZ'] = 'UTC'

module Oracle
  class Actor
    attr_reader :flipper_id, :flipper_properties

    def initialize(id, properties)
      @flipper_id = id
      @flipper_properties = properties || {}
    end
  end

  # Records which gate Flipper reports as open.
  class Capture
    attr_accessor :gate_name

    def instrument(_name, payload = {})
      result = yield payload
      @gate_name = payload[:gate_name] if payload[:operation] == :enabled?
      result
    end
  end

  class Raised < StandardError; end

  # Flipper 1.4's expressions (lib/flipper/expressions/*.rb), evaluated eagerly like
  # Flipper::Expression#evaluate.
  module Expr
    TRUTH_MAP = { true => true, 1 => true, 'true' => true, '1' => true }.freeze
    ISO_8601 = /\A\s*\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)? *(Z|z|UTC|GMT|[+-]\d{2}(:?\d{2})?)?\s*\z/.freeze

    def self.evaluate(json, ctx)
      return json unless json.is_a?(Hash)

      name, args = json.first
      args = Array(args).map { |a| evaluate(a, ctx) }
      call(name, args, ctx)
    end

    def self.compare(op, left, right)
      left.respond_to?(op) && right.respond_to?(op) && left.public_send(op, right)
    rescue ArgumentError
      false
    end

    def self.to_number(value)
      n = case value
          when Numeric then value
          when String then value.include?('.') ? value.to_f : value.to_i
          when NilClass then 0
          else value.to_f
          end
      raise Raised, 'bignum' if n.is_a?(Integer) && !(-2**63...2**63).cover?(n)
      n
    rescue NoMethodError
      raise Raised, "#{value.inspect} cannot be converted to a number"
    end

    # Kernel#rand(max) over the caller's draw: a float below 1 when max.to_i.abs is 0, else
    # an Integer below max.to_i.abs.
    def self.rand_from(draw, max)
      raise Raised, 'rand type' unless max.nil? || max.is_a?(Numeric)
      n = max.nil? ? 0 : max.to_i.abs
      n.zero? ? draw : [(draw * n).floor, n - 1].min
    end

    def self.call(name, args, ctx)
      case name
      when 'All' then args.all?
      when 'Any' then args.any?
      when 'Equal' then compare(:==, *args)
      when 'NotEqual' then compare(:!=, *args)
      when 'GreaterThan' then compare(:>, *args)
      when 'GreaterThanOrEqualTo' then compare(:>=, *args)
      when 'LessThan' then compare(:<, *args)
      when 'LessThanOrEqualTo' then compare(:<=, *args)
      when 'Property' then ctx[:properties][args[0].to_s]
      when 'String' then args[0].to_s
      when 'Number' then to_number(args[0])
      when 'Boolean' then !!TRUTH_MAP[args[0]]
      when 'Percentage' then args[0].to_f.clamp(0, 100)
      when 'PercentageOfActors'
        Zlib.crc32("#{ctx[:feature_name]}#{args[0]}") % 100_000 < args[1] * 1_000
      when 'Random' then rand_from(ctx[:random], args[0])
      when 'Now' then ctx[:now]
      when 'Time'
        v = args[0]
        # Time.parse guesses at almost any text ("User:5" parses); vexil reads ISO 8601 only,
        # and so does the oracle.
        raise Raised, 'not ISO 8601' unless v.is_a?(Numeric) || (v.is_a?(String) && ISO_8601.match?(v))
        t = v.is_a?(Numeric) ? ::Time.at(v).utc : ::Time.parse(v).utc
        raise Raised, 'time range' unless (-9.2e9..9.2e9).cover?(t.to_r)
        t
      when 'FeatureEnabled' then ctx[:feature_enabled].call(args[0].to_s)
      else raise "unknown function #{name}"
      end
    end

    def self.holds?(json, ctx)
      !!evaluate(json, ctx)
    rescue StandardError
      false
    end
  end

  class Suite
    def initialize(spec)
      @flags = spec['flags'] || {}
      @groups = spec['groups'] || {}
      @adapter = Flipper::Adapters::Memory.new
      @capture = Capture.new
      @flipper = Flipper.new(@adapter, instrumenter: @capture)
      @evaluating = Set.new
      Flipper.unregister_groups
      @groups.each do |gname, expr|
        suite = self
        Flipper.register(gname.to_sym) do |actor, context|
          suite.group_holds?(expr, actor, context.feature_name.to_s)
        end
      end
      @flags.each { |name, flag| persist(name, flag) }
    end

    # GitLab's representation: opt-outs are actor entries "<id>:opt_out".
    def actor_values(flag)
      (flag['actors'] || []) + (flag['opt_outs'] || []).map { |id| "#{id}:opt_out" }
    end

    def persist(name, flag)
      return unless flag['persisted']

      feature = @flipper[name]
      feature.add
      feature.enable if flag['boolean']
      actor_values(flag).each { |id| feature.enable_actor(Actor.new(id, {})) }
      (flag['groups'] || []).each { |g| feature.enable_group(g.to_sym) }
      poa = flag['percentage_of_actors'] || '0'
      pot = flag['percentage_of_time'] || '0'
      feature.enable_percentage_of_actors(poa.to_f) unless poa.to_f.zero?
      feature.enable_percentage_of_time(pot.to_f) unless pot.to_f.zero?
    end

    def properties(actor)
      props = {}
      props.update(actor.flipper_properties || {})
      props.transform_keys!(&:to_s)
      props['flipper_id'] = actor.flipper_id
      props
    end

    def group_holds?(expr, actor, feature_name)
      Expr.holds?(expr, properties: properties(actor), feature_name: feature_name,
                        random: @random, now: @now, feature_enabled: feature_enabled_fn(actor))
    end

    # Flipper 1.4's FeatureEnabled: a thread-local set of names being evaluated; a name in
    # it answers false. Transcribed with its cleanup quirk (the target is always deleted).
    def feature_enabled_fn(actor)
      lambda do |target|
        current = @current_flag
        added_current = @evaluating.add?(current)
        begin
          return false if @evaluating.include?(target)

          @evaluating.add(target)
          saved = @current_flag
          result = gitlab_enabled(target, actor ? [actor] : [])[0]
          @current_flag = saved
          result
        ensure
          @evaluating.delete(target)
          @evaluating.delete(current) if added_current
        end
      end
    end

    def bucket(name, actors)
      return nil if actors.empty?

      Zlib.crc32("#{name}#{actors.map { |a| a.flipper_id.to_s }.sort.join}") % 100_000
    end

    # lib/feature.rb current_feature_value, extended to several actors as Flipper >= 0.28
    # does (any opted-out actor turns the flag off).
    def gitlab_enabled(name, actors)
      flag = @flags[name]
      return [false, 'not_found', false] if flag.nil?
      return [flag['default_enabled'] ? true : false, 'default', false] unless flag['persisted']

      @current_flag = name
      derived = actors.size > 1 || !flag['expression'].nil?
      gate = derived ? derived_gate(name, flag, actors) : flipper_gate(name, actors.first)
      return [false, 'off', derived] if gate.nil?

      values = actor_values(flag)
      opted_out = actors.any? { |a| values.include?("#{a.flipper_id}:opt_out") }
      opted_out ? [false, 'opt_out', derived] : [true, gate.to_s, derived]
    end

    def flipper_gate(name, actor)
      @capture.gate_name = nil
      enabled = @flipper[name].enabled?(actor)
      enabled ? @capture.gate_name : nil
    end

    # Flipper >= 1.1 gate order, for what 0.25 cannot evaluate.
    def derived_gate(name, flag, actors)
      ctx = lambda do |actor|
        { properties: actor ? properties(actor) : {}, feature_name: name, random: @random, now: @now,
          feature_enabled: feature_enabled_fn(actor) }
      end
      return :boolean if flag['boolean']
      if (expr = flag['expression'])
        open = actors.empty? ? Expr.holds?(expr, ctx.call(nil)) : actors.any? { |a| @current_flag = name; Expr.holds?(expr, ctx.call(a)) }
        return :expression if open
      end
      values = actor_values(flag)
      return :actor if actors.any? { |a| values.include?(a.flipper_id.to_s) }
      poa = (flag['percentage_of_actors'] || '0').to_f
      return :percentage_of_actors if !actors.empty? && bucket(name, actors) < poa * 1_000
      pot = (flag['percentage_of_time'] || '0').to_f
      return :percentage_of_time if @random < pot / 100.0
      if !actors.empty?
        hit = (flag['groups'] || []).any? do |g|
          expr = @groups[g]
          expr && actors.any? { |a| group_holds?(expr, a, name) }
        end
        return :group if hit
      end
      nil
    end

    def run(c)
      @random = c['random'] || 0.0
      @now = ::Time.at(Rational(c['now'] || 0, 1000)).utc
      @evaluating.clear
      actors = (c['actors'] || []).map { |a| a.is_a?(String) ? Actor.new(a, {}) : Actor.new(a['id'], a['properties']) }
      # Flipper 0.25's percentage-of-time gate calls Kernel#rand; hand it the case's draw.
      draw = @random
      Flipper::Gates::PercentageOfTime.send(:define_method, :rand) { draw }
      enabled, reason, derived = gitlab_enabled(c['flag'], actors)
      { 'enabled' => enabled, 'reason' => reason, 'bucket' => bucket(c['flag'], actors), 'derived' => derived }
    end

    def results(cases)
      cases.map { |c| run(c) }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  $stdout.sync = true
  $stdin.each_line do |line|
    next if line.strip.empty?

    spec = JSON.parse(line)
    out = { 'results' => Oracle::Suite.new(spec).results(spec['cases'] || []) }
    $stdout.puts JSON.generate(out)
  end
end
