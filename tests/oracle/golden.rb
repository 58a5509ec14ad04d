# Writes the golden vectors in tests/vectors/ from the oracle (tests/oracle/oracle.rb).
#   ruby tests/oracle/golden.rb            # rewrite tests/vectors/*.json
# Each file is one suite: flags and groups (one snapshot), and cases with the oracle's
# answer. "derived": true marks answers that 0.25 cannot give itself (see oracle.rb).
require_relative 'oracle'

OUT = File.expand_path('../vectors', __dir__)
NOW = 1_700_000_000_000 # 2023-11-14T22:13:20Z, in milliseconds

def flag(type: 'development', default_enabled: false, persisted: true, **gates)
  { 'type' => type, 'default_enabled' => default_enabled, 'persisted' => persisted, 'client_side' => false,
    'boolean' => false, 'actors' => [], 'opt_outs' => [], 'groups' => [],
    'percentage_of_actors' => '0', 'percentage_of_time' => '0', 'expression' => nil }
    .merge(gates.transform_keys(&:to_s))
end

def c(flag, actors = [], random: 0.5, now: NOW)
  { 'flag' => flag, 'actors' => actors, 'random' => random, 'now' => now }
end

def write(name, description, spec)
  results = Oracle::Suite.new(spec).results(spec['cases'])
  cases = spec['cases'].zip(results).map do |kase, r|
    kase.merge('expected' => { 'enabled' => r['enabled'], 'reason' => r['reason'] },
               'bucket' => r['bucket'], 'derived' => r['derived'])
  end
  doc = {
    'description' => description,
    'oracle' => "Flipper #{Gem.loaded_specs['flipper']&.version || '0.25.4'} (ruby-flipper) with GitLab's Feature layer; see tests/oracle/oracle.rb",
    'groups' => spec['groups'] || {},
    'flags' => spec['flags'],
    'cases' => cases,
  }
  # One case per line keeps the files readable and their diffs small.
  head = JSON.pretty_generate(doc.reject { |k, _| k == 'cases' }).sub(/\n}\z/, '')
  body = cases.map { |k| "    #{JSON.generate(k)}" }.join(",\n")
  File.write(File.join(OUT, "#{name}.json"), "#{head},\n  \"cases\": [\n#{body}\n  ]\n}\n")
  warn "#{name}: #{cases.size} cases (#{cases.count { |k| k['derived'] }} derived)"
end

# Actor ids worth trying everywhere: GitLab's kinds, an empty id, unicode, non-canonical
# numbers, repository paths and GitLab's special instance actor.
IDS = ['User:1', 'User:123', 'User:0', 'User:007', 'User:18446744073709551615', 'User:18446744073709551616',
       'Project:42', 'Group:9970', 'Namespace:3', 'Repository:gitlab-org/gitlab.git',
       'FlipperGitlabInstance:gitlab.com', 'FlipperRequest:7f1c2d', '', 'Üser:ß', '用户:5', '🚀', 'User:1:opt_out',
       'Ci::Runner:5', ':5', 'User:'].freeze

def ids_with_bucket(flag, wanted)
  wanted.map { |b| (0..).lazy.map { |n| "User:#{n}" }.find { |id| Zlib.crc32("#{flag}#{id}") % 100_000 == b } }
end

# --- percentage of actors: the edge percentages, Ruby's float products ---------------------
edges = %w[0 0.001 2.007 33.333 99.999 100 25 50 1]
flags = edges.to_h { |p| ["rollout_#{p.tr('.', '_')}", flag(percentage_of_actors: p)] }
cases = []
flags.each_key do |name|
  IDS.each { |id| cases << c(name, [id]) }
  (0...40).each { |n| cases << c(name, ["User:#{n * 7919}"]) }
  cases << c(name, [])
end
# 2.007 * 1000 == 2007.0000000000002 in Ruby: bucket 2007 is open, one more than exact decimals.
ids_with_bucket('rollout_2_007', [2005, 2006, 2007, 2008]).each { |id| cases << c('rollout_2_007', [id]) }
ids_with_bucket('rollout_33_333', [33_332, 33_333, 33_334]).each { |id| cases << c('rollout_33_333', [id]) }
ids_with_bucket('rollout_99_999', [99_998, 99_999]).each { |id| cases << c('rollout_99_999', [id]) }
ids_with_bucket('rollout_0_001', [0, 1]).each { |id| cases << c('rollout_0_001', [id]) }
write('percentage_of_actors', 'Flipper percentage-of-actors bucketing at edge percentages and ids', 'flags' => flags, 'cases' => cases)

# --- every gate, alone and together; reasons in gate order --------------------------------
groups = {
  'gitlab_team_members' => { 'Equal' => [{ 'Property' => ['team'] }, 'gitlab'] },
  'beta_testers' => { 'Any' => [{ 'Equal' => [{ 'Property' => ['beta'] }, true] },
                                { 'Equal' => [{ 'Property' => ['flipper_id'] }, 'User:99'] }] },
}
flags = {
  'off_flag' => flag,
  'on_flag' => flag(boolean: true),
  'actor_flag' => flag(actors: ['User:1', 'Project:42', 'Group:9970', 'Repository:gitlab-org/gitlab.git', '', 'Üser:ß']),
  'group_flag' => flag(groups: ['gitlab_team_members']),
  'unknown_group_flag' => flag(groups: ['no_such_group']),
  'two_groups_flag' => flag(groups: %w[beta_testers gitlab_team_members]),
  'time_flag' => flag(percentage_of_time: '25'),
  'time_odd_flag' => flag(percentage_of_time: '2.007'),
  'time_full_flag' => flag(percentage_of_time: '100'),
  'everything_flag' => flag(actors: ['User:1'], groups: ['gitlab_team_members'], percentage_of_actors: '50', percentage_of_time: '50'),
  'actor_and_percentage' => flag(actors: ['User:1'], percentage_of_actors: '100'),
  'percentage_and_time' => flag(percentage_of_actors: '100', percentage_of_time: '100'),
  'time_and_group' => flag(percentage_of_time: '100', groups: ['gitlab_team_members']),
}
team = { 'id' => 'User:5', 'properties' => { 'team' => 'gitlab' } }
other = { 'id' => 'User:6', 'properties' => { 'team' => 'other' } }
beta = { 'id' => 'User:7', 'properties' => { 'beta' => true } }
cases = []
flags.each_key do |name|
  [[], ['User:1'], ['User:2'], ['Project:42'], ['Group:9970'], ['Repository:gitlab-org/gitlab.git'], [''],
   ['Üser:ß'], ['User:99'], [team], [other], [beta], ['User:1:opt_out']].each do |actors|
    [0.0, 0.02, 0.02007, 0.0200700001, 0.2499999, 0.25, 0.5, 0.9999999].each do |r|
      cases << c(name, actors, random: r)
    end
  end
end
write('gates', 'Each Flipper gate alone and combined, with and without actors; reasons in gate order',
      'flags' => flags, 'groups' => groups, 'cases' => cases)

# --- GitLab's layer: default_enabled, persisted state, opt-out -----------------------------
flags = {
  'default_on_unpersisted' => flag(type: 'beta', default_enabled: true, persisted: false),
  'default_off_unpersisted' => flag(type: 'wip', persisted: false),
  'default_on_persisted_off' => flag(type: 'ops', default_enabled: true),
  'default_on_one_project' => flag(type: 'beta', default_enabled: true, actors: ['Project:7']),
  'on_with_opt_out' => flag(boolean: true, opt_outs: ['User:1', 'Project:42']),
  'percentage_with_opt_out' => flag(percentage_of_actors: '100', opt_outs: ['User:1']),
  'actor_and_opt_out' => flag(actors: ['User:2'], opt_outs: ['User:1']),
  'off_with_opt_out' => flag(opt_outs: ['User:1']),
  'group_with_opt_out' => flag(groups: ['gitlab_team_members'], opt_outs: ['User:5']),
  'time_with_opt_out' => flag(percentage_of_time: '100', opt_outs: ['User:1']),
}
cases = []
flags.each_key do |name|
  [[], ['User:1'], ['User:2'], ['Project:7'], ['Project:42'], [team], ['User:1:opt_out'],
   [{ 'id' => 'User:1', 'properties' => { 'team' => 'gitlab' } }]].each do |actors|
    cases << c(name, actors)
  end
end
cases << c('no_such_flag', ['User:1'])
write('gitlab', "GitLab's Feature layer: default_enabled only while unpersisted, opt-out wins, unknown flags",
      'flags' => flags, 'groups' => groups, 'cases' => cases)

# --- several actors (Flipper >= 0.28): one hash over the sorted, joined ids ----------------
flags = {
  'multi_rollout' => flag(percentage_of_actors: '50'),
  'multi_actor' => flag(actors: ['Project:2']),
  'multi_group' => flag(groups: ['gitlab_team_members']),
  'multi_opt_out' => flag(boolean: true, opt_outs: ['Group:9']),
  'f' => flag(percentage_of_actors: '66'),
}
sets = [%w[User:1 Project:2], %w[Project:2 User:1], %w[User:1 User:1], %w[User:1 Group:9 Project:2],
        ['User:3', team], [team, 'User:3'], ['', 'User:1'], %w[Üser:ß User:1], %w[b a c a]]
cases = []
flags.each_key { |name| sets.each { |s| cases << c(name, s) } }
(0...30).each { |n| cases << c('multi_rollout', ["User:#{n}", "Project:#{n * 31}"]) }
write('multi_actor', 'Several actors per evaluation: sorted-join bucketing, any actor for actor and group gates, any opt-out wins',
      'flags' => flags, 'groups' => groups, 'cases' => cases)

# --- expressions (Flipper >= 1.1) ------------------------------------------------------------
P = ->(name) { { 'Property' => [name] } }
expressions = {
  'plan_is_gold' => { 'Equal' => [P['plan'], 'gold'] },
  'plan_not_gold' => { 'NotEqual' => [P['plan'], 'gold'] },
  'age_over_21' => { 'GreaterThan' => [P['age'], 21] },
  'age_at_least_21' => { 'GreaterThanOrEqualTo' => [P['age'], 21] },
  'age_under_21_float' => { 'LessThan' => [P['age'], 21.5] },
  'age_at_most_21' => { 'LessThanOrEqualTo' => [P['age'], 21] },
  'age_number_over_21' => { 'GreaterThan' => [{ 'Number' => [P['age']] }, 21] },
  'name_after_m' => { 'GreaterThan' => [P['name'], 'm'] },
  'admin_boolean' => { 'Equal' => [{ 'Boolean' => [P['admin']] }, true] },
  'admin_truthy' => { 'All' => [P['admin']] },
  'all_empty' => { 'All' => [] },
  'any_empty' => { 'Any' => [] },
  'gold_or_admin' => { 'Any' => [{ 'Equal' => [P['plan'], 'gold'] }, { 'Equal' => [P['admin'], true] }] },
  'gold_and_adult' => { 'All' => [{ 'Equal' => [P['plan'], 'gold'] }, { 'GreaterThanOrEqualTo' => [P['age'], 18] }] },
  'id_is_user_1' => { 'Equal' => [P['flipper_id'], 'User:1'] },
  'id_string_compare' => { 'Equal' => [{ 'String' => [P['age']] }, '21'] },
  'float_string' => { 'Equal' => [{ 'String' => [P['score']] }, '1.0e+20'] },
  'pct_of_ids' => { 'PercentageOfActors' => [P['flipper_id'], 25] },
  'pct_of_ids_float' => { 'PercentageOfActors' => [P['flipper_id'], 2.007] },
  'pct_of_orgs' => { 'PercentageOfActors' => [P['org'], { 'Percentage' => [P['pct']] }] },
  'percentage_clamped' => { 'Equal' => [{ 'Percentage' => [P['pct']] }, 100] },
  'random_half' => { 'LessThan' => [{ 'Random' => [] }, 0.5] },
  'random_int' => { 'Equal' => [{ 'Random' => [10] }, 5] },
  'after_launch' => { 'GreaterThanOrEqualTo' => [{ 'Now' => [] }, { 'Time' => ['2023-11-01T00:00:00Z'] }] },
  'before_launch_epoch' => { 'LessThan' => [{ 'Now' => [] }, { 'Time' => [1_600_000_000] }] },
  'now_number' => { 'GreaterThan' => [{ 'Number' => [{ 'Now' => [] }] }, 1_699_999_999] },
  'now_vs_integer' => { 'GreaterThan' => [{ 'Now' => [] }, 1_600_000_000] },
  'created_after' => { 'GreaterThan' => [{ 'Time' => [P['created_at']] }, { 'Time' => ['2020-01-01'] }] },
  'bad_time_string' => { 'Any' => [true, { 'Time' => ['garbage'] }] },
  'percentage_of_bool' => { 'Any' => [true, { 'Percentage' => [true] }] },
  'number_of_bool' => { 'Equal' => [{ 'Number' => [P['admin']] }, 1] },
  'string_vs_int' => { 'GreaterThan' => ['25', 21] },
  'nil_gt' => { 'GreaterThan' => [P['missing'], 1] },
  'nil_ne' => { 'NotEqual' => [P['missing'], 'x'] },
  'nil_eq_nil' => { 'Equal' => [P['missing'], P['also_missing']] },
  'int_eq_float' => { 'Equal' => [1, 1.0] },
  'bool_lt' => { 'LessThan' => [true, false] },
  'number_prefix' => { 'Equal' => [{ 'Number' => ['12abc'] }, 12] },
  'number_dot' => { 'Equal' => [{ 'Number' => ['1.5e3'] }, 1500] },
  'boolean_of_one' => { 'Boolean' => [1] },
  'boolean_of_float_one' => { 'Boolean' => [1.0] },
  'string_of_nil' => { 'Equal' => [{ 'String' => [P['missing']] }, ''] },
  'property_numeric_key' => { 'Equal' => [{ 'Property' => [5] }, 'five'] },
}
flags = expressions.to_h { |name, e| [name, flag(expression: e)] }
flags['expr_or_actor'] = flag(actors: ['User:1'], expression: { 'Equal' => [P['plan'], 'gold'] })
flags['expr_and_opt_out'] = flag(expression: { 'All' => [] }, opt_outs: ['User:1'])
flags['group_pct_expression'] = flag(groups: ['half_of_users'])
groups_with_pct = groups.merge('half_of_users' => { 'PercentageOfActors' => [P['flipper_id'], 50] })
# FeatureEnabled (Flipper 1.4) and the cycle cases from Flipper's own cycle guard.
fe = ->(n) { { 'FeatureEnabled' => [n] } }
flags['dep_a'] = flag(expression: fe['dep_b'])
flags['dep_b'] = flag(actors: ['User:1'])
flags['self_cycle'] = flag(expression: fe['self_cycle'])
flags['cycle_a'] = flag(expression: fe['cycle_b'])
flags['cycle_b'] = flag(expression: fe['cycle_a'])
flags['not_self'] = flag(expression: { 'Equal' => [fe['not_self'], false] })
flags['not_a'] = flag(expression: { 'Equal' => [fe['not_b'], false] })
flags['not_b'] = flag(expression: { 'Equal' => [fe['not_a'], false] })
flags['any_dep'] = flag(expression: { 'Any' => [fe['back_to_any'], fe['always']] })
flags['back_to_any'] = flag(expression: fe['any_dep'])
flags['always'] = flag(expression: { 'All' => [] })
flags['diamond'] = flag(expression: { 'All' => [fe['left'], fe['right']] })
flags['left'] = flag(expression: fe['bottom'])
flags['right'] = flag(expression: fe['bottom'])
flags['bottom'] = flag(expression: { 'All' => [] })
flags['dep_missing'] = flag(expression: fe['no_such_flag'])
flags['dep_default_on'] = flag(expression: fe['default_on_dep'])
flags['default_on_dep'] = flag(type: 'beta', default_enabled: true, persisted: false)

people = [
  [],
  [{ 'id' => 'User:1', 'properties' => { 'plan' => 'gold', 'age' => 30, 'admin' => true, 'name' => 'zed', 'score' => 1e20, 'org' => 'Group:9', 'pct' => 150, 'created_at' => '2021-05-01T12:00:00Z', '5' => 'five' } }],
  [{ 'id' => 'User:2', 'properties' => { 'plan' => 'free', 'age' => 21, 'admin' => 'true', 'name' => 'amy', 'org' => 'Group:10', 'pct' => '12.5%', 'created_at' => '2019-12-31' } }],
  [{ 'id' => 'User:3', 'properties' => { 'age' => 21.0, 'admin' => 1, 'pct' => -3, 'created_at' => 'not a date' } }],
  [{ 'id' => 'User:4', 'properties' => { 'age' => '25', 'admin' => false, 'plan' => nil, 'pct' => 99.5 } }],
  [{ 'id' => 'User:5', 'properties' => { 'age' => 17, 'plan' => 'gold', 'admin' => 1.0 } }],
  ['User:1'],
  ['User:6', { 'id' => 'User:7', 'properties' => { 'plan' => 'gold', 'age' => 40 } }],
]
cases = []
flags.each_key do |name|
  people.each do |actors|
    [0.1, 0.55].each { |r| cases << c(name, actors, random: r) }
  end
end
cases << c('after_launch', [], now: 1_698_796_799_999)
cases << c('after_launch', [], now: 1_698_796_800_000)
write('expressions', 'Flipper 1.4 expressions: every function, Ruby type rules, FeatureEnabled and its cycle guard',
      'flags' => flags, 'groups' => groups_with_pct, 'cases' => cases)
