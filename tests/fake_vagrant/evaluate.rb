# Evaluates a Vagrantfile with a recording stand-in for Vagrant's config objects and prints
# what it configured as JSON: `ruby evaluate.rb PATH/Vagrantfile`. A Vagrantfile that aborts
# (a bad LAB_* value) exits non-zero with its message on stderr, as `vagrant` does.
require "json"

class Recorder
  def initialize
    @attrs = {}
    @kids = {}
    @calls = Hash.new { |h, k| h[k] = [] }
  end

  def to_h
    h = @attrs.dup
    @kids.each { |k, v| h[k] = v.is_a?(Hash) ? v.transform_values(&:to_h) : v.to_h }
    @calls.each { |k, v| h[k] = v }
    h
  end

  def plain(value)
    value.is_a?(Symbol) ? value.to_s : value
  end

  def method_missing(name, *args, **kw, &blk)
    n = name.to_s
    return @attrs[n.chomp("=")] = plain(args[0]) if n.end_with?("=")
    if %w[define provider].include?(n)
      sub = Recorder.new
      (@kids[n] ||= {})[args[0].to_s] = sub
      blk.call(sub) if blk
      return sub
    end
    return @kids[n] ||= Recorder.new if args.empty? && kw.empty?
    @calls[n] << { "args" => args.map { |a| a.is_a?(Array) ? a.map { |x| plain(x) } : plain(a) },
                   "kw" => kw.transform_keys(&:to_s).transform_values { |v| plain(v) } }
    nil
  end

  def respond_to_missing?(*) = true
end

module Vagrant
  def self.configure(_version)
    rec = Recorder.new
    yield rec
    puts JSON.generate(rec.to_h)
  end
end

load ARGV[0]
