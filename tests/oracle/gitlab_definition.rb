# GitLab's Feature::Definition loading and validate! (lib/feature/definition.rb), transcribed
# as the oracle for `vexil lint`. Reads JSON lines {"root": DIR, "path": REL} and prints one
# JSON line per input: {"valid": bool, "error": message-or-null}.
#
# Loading is Psych's YAML.safe_load, as GitLab's. The checks follow the newest validate!:
# name present and matching VALID_FEATURE_NAME, path present, type present and known, the
# path's file name equal to the name and its directory equal to the type, milestone nil or a
# String, default_enabled present, and true only for types that may be default-enabled.
require 'json'
require 'yaml'

TYPES = {
  gitlab_com_derisk: { can_be_default_enabled: false },
  wip: { can_be_default_enabled: false },
  beta: { can_be_default_enabled: true },
  ops: { can_be_default_enabled: true },
  experiment: { can_be_default_enabled: false },
  worker: { can_be_default_enabled: false },
  undefined: { can_be_default_enabled: false },
  development: { can_be_default_enabled: true },
}.freeze

# Gitlab::Regex.sep_by_1('_', /[a-z0-9]+/), anchored with Ruby's line anchors.
VALID_FEATURE_NAME = /^[a-z0-9]+(_[a-z0-9]+)*$/.freeze

# ActiveSupport's Object#present?.
def present?(v)
  return false if v.nil? || v == false
  return !v.strip.empty? if v.is_a?(String)
  return !v.empty? if v.respond_to?(:empty?)

  true
end

def validate!(path, d)
  name = d[:name]
  type = d[:type]
  raise 'Feature flag is missing name' unless present?(name)
  raise "Feature flag '#{name}' is invalid" unless VALID_FEATURE_NAME =~ name
  raise "Feature flag '#{name}' misses path" unless present?(path)
  raise "Feature flag '#{name}' is missing `type`" unless present?(type)
  raise "Feature flag '#{name}' type '#{type}' is invalid" unless TYPES.include?(type.to_sym)
  unless File.basename(path, '.yml') == name && File.basename(File.dirname(path)) == type
    raise "Feature flag '#{name}' has an invalid path"
  end
  raise "Feature flag '#{name}' milestone must be a string" unless d[:milestone].nil? || d[:milestone].is_a?(String)
  raise "Feature flag '#{name}' is missing `default_enabled`" if d[:default_enabled].nil?
  if d[:default_enabled] && !TYPES.dig(type.to_sym, :can_be_default_enabled)
    raise "Feature flag '#{name}' cannot have `default_enabled` set to `true`"
  end
end

$stdout.sync = true
$stdin.each_line do |line|
  req = JSON.parse(line)
  begin
    definition = YAML.safe_load(File.read(File.join(req['root'], req['path'])))
    definition = definition.deep_symbolize_keys if definition.respond_to?(:deep_symbolize_keys)
    definition = definition.transform_keys(&:to_sym) if definition.is_a?(Hash)
    validate!(req['path'], definition)
    puts JSON.generate('valid' => true, 'error' => nil)
  rescue StandardError, Psych::Exception => e
    puts JSON.generate('valid' => false, 'error' => "#{e.class}: #{e.message}")
  end
end
