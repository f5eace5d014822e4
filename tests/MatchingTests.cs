using Cdp.Server.Matching;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The fuzzy matcher as a library: comparators against published values, the Fellegi-Sunter score,
/// blocking (what is and is not compared), variants across merges and removals, and configuration errors.
/// </summary>
public sealed class MatchingTests
{
    static readonly MatchModel Febrl = new(MatchingOptions.Febrl());

    static MatchRecord Person(string first, string last, string dob, string postcode = "3012", string ssn = "5613219",
        string number = "29", string address1 = "priddle street", string city = "graceville", MatchModel? model = null) =>
        (model ?? Febrl).Read(new Dictionary<string, string>
        {
            ["firstName"] = first,
            ["lastName"] = last,
            ["birthDate"] = dob,
            ["postcode"] = postcode,
            ["ssn"] = ssn,
            ["streetNumber"] = number,
            ["address1"] = address1,
            ["city"] = city,
            ["state"] = "qld",
        });

    // Published examples (Winkler 1990; Wikipedia "Jaro-Winkler distance").
    [Theory]
    [InlineData("MARTHA", "MARHTA", 0.961)]
    [InlineData("DWAYNE", "DUANE", 0.840)]
    [InlineData("DIXON", "DICKSONX", 0.813)]
    [InlineData("JELLYFISH", "SMELLYFISH", 0.896)]
    public void JaroWinklerMatchesPublishedValues(string a, string b, double expected)
    {
        Assert.Equal(expected, JaroWinkler.Similarity(a, b), 3);
        Assert.Equal(expected, JaroWinkler.Similarity(b, a), 3);
    }

    [Fact]
    public void JaroWinklerBounds()
    {
        Assert.Equal(1.0, JaroWinkler.Similarity("naomi", "naomi"));
        Assert.Equal(0.0, JaroWinkler.Similarity("", "naomi"));
        Assert.Equal(0.0, JaroWinkler.Similarity("abc", "xyz"));
        // Longer than the stack buffer still works.
        string longA = new('a', 300), longB = new string('a', 299) + "b";
        Assert.InRange(JaroWinkler.Similarity(longA, longB), 0.99, 1.0);
    }

    [Theory]
    [InlineData("Robert", "R163")]
    [InlineData("Rupert", "R163")]
    [InlineData("Tymczak", "T522")]
    [InlineData("Pfister", "P236")]
    [InlineData("Ashcraft", "A261")]
    [InlineData("Honeyman", "H555")]
    [InlineData("lee", "L000")]
    [InlineData("o'brien", "O165")]
    [InlineData("123", "")]
    public void SoundexMatchesTheCensusRules(string name, string code) => Assert.Equal(code, Soundex.Encode(name));

    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("7751504", "7751540", 1)]
    [InlineData("7751504", "7751504", 0)]
    [InlineData("", "abc", 3)]
    [InlineData("ca", "abc", 3)]
    public void EditDistanceCountsTranspositionsOnce(string a, string b, int distance) =>
        Assert.Equal(distance, EditDistance.Distance(a, b));

    [Theory]
    [InlineData("19750818", "19750818", 1.0)]
    [InlineData("19750812", "19751208", DateSimilarity.Transposed)]
    [InlineData("19750818", "19750813", DateSimilarity.OneDigit)]
    [InlineData("19750818", "19570818", DateSimilarity.AdjacentSwap)]
    [InlineData("19750818", "19220818", DateSimilarity.YearOff)]
    [InlineData("19750818", "19640121", 0.0)]
    [InlineData("1975", "19750818", 0.0)]
    public void DatesGradeTypingErrors(string a, string b, double expected) =>
        Assert.Equal(expected, DateSimilarity.Similarity(a, b));

    [Fact]
    public void PostcodesAndNumbersGradeOnePositionErrors()
    {
        Assert.Equal(1.0, DigitSimilarity.Postcode("3012", "3012"));
        Assert.Equal(DigitSimilarity.OneSubstitution, DigitSimilarity.Postcode("3012", "4012"));
        Assert.Equal(DigitSimilarity.AdjacentSwap, DigitSimilarity.Postcode("3012", "3021"));
        Assert.Equal(0.0, DigitSimilarity.Postcode("3012", "5678"));
        Assert.Equal(1.0, DigitSimilarity.Number("07", "7"));
        Assert.Equal(0.0, DigitSimilarity.Number("7", "70"));
        Assert.Equal(0.95, DigitSimilarity.Phone("61298765432", "0298765432"));
    }

    [Fact]
    public void RecordsAreNormalisedAndMissingValuesWeighNothing()
    {
        var r = Febrl.Read(new Dictionary<string, string>
        {
            ["firstName"] = "  Jonah  ",
            ["address1"] = "Bingley \t  Crescent ",
            ["birthDate"] = "1925-04-13",
            ["ssn"] = "832-8406",
            ["lastName"] = "   ",
            ["email"] = "jonah@example.com",
        });
        Assert.Equal("jonah", r["firstName"]);
        Assert.Equal("bingley crescent", r["address1"]);
        Assert.Equal("19250413", r["birthDate"]);
        Assert.Equal("8328406", r["ssn"]);
        Assert.Null(r["lastName"]);
        Assert.Equal(4, r.PresentCount);

        var other = Person("jonah", "browne", "19250413");
        var evidence = new List<MatchEvidence>();
        Febrl.Score(r, other, evidence);
        Assert.Equal(0.0, evidence.Single(e => e.Attribute == "lastName").Weight);
        Assert.Equal(0.0, evidence.Single(e => e.Attribute == "postcode").Weight);
        Assert.Equal(Febrl.Find("birthDate")!.Agree, evidence.Single(e => e.Attribute == "birthDate").Weight);
    }

    [Fact]
    public void PartialAgreementWeighsBetweenDisagreementAndAgreement()
    {
        var a = Febrl.Find("lastName")!;
        double typo = a.Weight(JaroWinkler.Similarity("prestia", "presita"));
        Assert.InRange(typo, a.Partial, a.Agree);
        Assert.True(typo < a.Agree);
        Assert.Equal(a.Disagree, a.Weight(JaroWinkler.Similarity("prestia", "white")));
    }

    [Fact]
    public void TypoedDuplicateIsFoundAndStrangerIsNotCompared()
    {
        var index = new CandidateIndex(Febrl);
        index.Add(1, Person("jackson", "prestia", "19260601"));
        index.Add(2, Person("naomi", "millar", "19750818", postcode: "5172", ssn: "7751504", number: "7", address1: "southern cross drive", city: "st agnes"));
        index.Add(3, Person("lachlan", "goldsworthy", "19450818", postcode: "3158", ssn: "8577437", number: "61", address1: "ashkanasy crescent", city: "rowville"));

        var dup = Person("jackaon", "prestia", "19260601", address1: "priddle sjtreet");
        var found = index.Find(dup, ulong.MaxValue, 10, double.NegativeInfinity, out int compared);
        Assert.Equal(1, compared); // blocking kept the two other people out of the comparison
        var best = Assert.Single(found);
        Assert.Equal(1UL, best.ProfileId);
        Assert.True(best.Score >= Febrl.AutoMergeScore, $"score {best.Score}");
        var first = best.Evidence.Single(e => e.Attribute == "firstName");
        Assert.Equal(("jackaon", "jackson"), (first.Value, first.CandidateValue));
        Assert.InRange(first.Similarity, 0.9, 0.99);

        var stranger = Person("zoe", "nguyen", "20010101", postcode: "6000", ssn: "1111111", number: "1", address1: "hay street", city: "perth");
        Assert.Empty(index.Find(stranger, ulong.MaxValue, 10, double.NegativeInfinity, out compared));
        Assert.Equal(0, compared);
    }

    [Fact]
    public void SwappedGivenNameAndSurnameAreFoundAndScoredCrossed()
    {
        var index = new CandidateIndex(Febrl);
        index.Add(7, Person("kyra", "wilde", "19090815", postcode: "2600", ssn: "5230360", number: "3", address1: "mort street", city: "braddon"));
        // Crossed names, another birth date and postcode: only the crossed name key can bring it together.
        var swapped = Person("wilde", "kyra", "19220601", postcode: "2601", ssn: "5230360", number: "3", address1: "mort street", city: "braddon");
        var best = Assert.Single(index.Find(swapped, 0, 10));
        Assert.Equal(7UL, best.ProfileId);
        var first = best.Evidence.Single(e => e.Attribute == "firstName");
        Assert.True(first.Swapped);
        Assert.Equal(("wilde", "wilde"), (first.Value, first.CandidateValue));
    }

    [Fact]
    public void FindSkipsTheExcludedProfileAndSortsBestFirst()
    {
        var index = new CandidateIndex(Febrl);
        index.Add(1, Person("jackson", "prestia", "19260601"));
        index.Add(2, Person("jackson", "prestia", "19260601", ssn: "5613291"));
        var r = Person("jackson", "prestia", "19260601", ssn: "5613291");
        var found = index.Find(r, 0, 10);
        Assert.Equal([2UL, 1UL], found.Select(c => c.ProfileId));
        Assert.True(found[0].Score > found[1].Score);
        Assert.Equal([1UL], index.Find(r, 2, 10).Select(c => c.ProfileId));
        Assert.Single(index.Find(r, 0, 1));
    }

    [Fact]
    public void MergedProfileMatchesOnEveryVariantUnderTheSurvivor()
    {
        var index = new CandidateIndex(Febrl);
        index.Add(1, Person("naomi", "millar", "19750818", postcode: "5172", ssn: "7751504"));
        index.Add(2, Person("naomi", "milfra", "19750818", postcode: "5172", ssn: "7751504", address1: "glengar"));
        index.MergeInto(1, 2);

        Assert.Equal(2, index.Variants(1).Count);
        Assert.Empty(index.Variants(2));
        Assert.Equal(1, index.ProfileCount);

        // Closer to the merged spelling: the survivor answers with the score of that variant.
        var probe = Person("naomi", "milfra", "19750818", postcode: "5172", ssn: "7751504", address1: "glengar");
        var best = Assert.Single(index.Find(probe, 0, 10));
        Assert.Equal(1UL, best.ProfileId);
        Assert.Equal("milfra", best.Evidence.Single(e => e.Attribute == "lastName").CandidateValue);

        // Merging an unknown or the same profile changes nothing.
        index.MergeInto(1, 99);
        index.MergeInto(1, 1);
        Assert.Equal(2, index.Variants(1).Count);
    }

    [Fact]
    public void RemovedProfileIsNeverFoundAgain()
    {
        var index = new CandidateIndex(Febrl);
        var r = Person("jackson", "prestia", "19260601");
        index.Add(5, r);
        Assert.True(index.Remove(5));
        Assert.False(index.Remove(5));
        Assert.Empty(index.Find(r, 0, 10, double.NegativeInfinity, out int compared));
        Assert.Equal(0, compared);
        Assert.Equal(0, index.ProfileCount);
    }

    [Fact]
    public void VariantsAreDeduplicatedAndCapped()
    {
        var options = MatchingOptions.Febrl();
        options.MaxVariantsPerProfile = 2;
        var model = new MatchModel(options);
        var index = new CandidateIndex(model);
        Assert.True(index.Add(1, Person("jackson", "prestia", "19260601", model: model)));
        Assert.False(index.Add(1, Person("Jackson ", "PRESTIA", "1926-06-01", model: model)));
        Assert.True(index.Add(1, Person("jackaon", "prestia", "19260601", model: model)));
        Assert.False(index.Add(1, Person("jackson", "presta", "19260601", model: model)));
        Assert.Equal(2, index.Variants(1).Count);
    }

    [Fact]
    public void OversizeBlockStopsBeingSearched()
    {
        var options = new MatchingOptions
        {
            Enabled = true,
            MaxBlockSize = 2,
            CandidateScore = -100,
            AutoMergeScore = 0,
            Attributes = { ["city"] = new() { Kind = "text" } },
            Blocking = ["city"],
        };
        var model = new MatchModel(options);
        var index = new CandidateIndex(model);
        MatchRecord City(string c) => model.Read([new("city", c)]);
        index.Add(1, City("perth"));
        index.Add(2, City("perth"));
        Assert.Equal(2, index.Find(City("perth"), 0, 10).Count);
        index.Add(3, City("perth"));
        Assert.Empty(index.Find(City("perth"), 0, 10, double.NegativeInfinity, out int compared));
        Assert.Equal(0, compared);
        index.Add(4, City("hobart"));
        Assert.Single(index.Find(City("hobart"), 0, 10));
    }

    [Fact]
    public void RecordsOfAnotherModelAreRefused()
    {
        var index = new CandidateIndex(Febrl);
        var other = new MatchModel(MatchingOptions.Febrl());
        Assert.Throws<ArgumentException>(() => index.Add(1, Person("a", "b", "19000101", model: other)));
    }

    [Fact]
    public void DecisionMergesEveryConfidentCandidateOrTheBestOnly()
    {
        var options = MatchingOptions.Febrl();
        var candidates = new[]
        {
            new MatchCandidate(4, 50, []),
            new MatchCandidate(2, 35, []),
            new MatchCandidate(9, 20, []),
        };
        Assert.Equal([4UL, 2UL], MergeDecision.ProfilesToMerge(candidates, new MatchModel(options)));
        options.MergeWith = "best";
        Assert.Equal([4UL], MergeDecision.ProfilesToMerge(candidates, new MatchModel(options)));
        options.AutoMerge = false;
        Assert.Empty(MergeDecision.ProfilesToMerge(candidates, new MatchModel(options)));
        options.AutoMerge = true;
        Assert.Empty(MergeDecision.ProfilesToMerge([new MatchCandidate(4, 29.9, [])], new MatchModel(options)));
    }

    [Fact]
    public void ConcurrentAddsMergesAndSearchesKeepTheIndexConsistent()
    {
        var index = new CandidateIndex(Febrl);
        const int People = 400;
        MatchRecord Nth(int i, string suffix = "") =>
            Person("given" + i + suffix, "family" + i, $"19{i % 100:00}0{1 + i % 9}1{i % 10}", postcode: (2000 + i).ToString(), ssn: (1000000 + i).ToString());
        Parallel.For(0, People, i =>
        {
            index.Add((ulong)(2 * i + 1), Nth(i));
            index.Add((ulong)(2 * i + 2), Nth(i, "x"));
            index.Find(Nth(i), 0, 5);
            index.MergeInto((ulong)(2 * i + 1), (ulong)(2 * i + 2));
        });
        Assert.Equal(People, index.ProfileCount);
        for (int i = 0; i < People; i++)
        {
            var best = index.Find(Nth(i, "x"), 0, 5)[0];
            Assert.Equal((ulong)(2 * i + 1), best.ProfileId);
            Assert.Equal(2, index.Variants(best.ProfileId).Count);
        }
    }

    [Fact]
    public void OptionsBindFromConfiguration()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cdp:Matching:Enabled"] = "true",
            ["Cdp:Matching:AutoMerge"] = "true",
            ["Cdp:Matching:AutoMergeScore"] = "25",
            ["Cdp:Matching:CandidateScore"] = "12.5",
            ["Cdp:Matching:MaxCandidates"] = "3",
            ["Cdp:Matching:Attributes:given:Trait"] = "firstName",
            ["Cdp:Matching:Attributes:given:Kind"] = "name",
            ["Cdp:Matching:Attributes:given:Agree"] = "6",
            ["Cdp:Matching:Attributes:phone:Kind"] = "phone",
            ["Cdp:Matching:Blocking:0"] = "given.soundex",
            ["Cdp:Matching:Blocking:1"] = "phone",
        }).Build();
        var options = config.GetSection("Cdp:Matching").Get<MatchingOptions>()!;
        var model = new MatchModel(options);
        Assert.Equal(25, model.AutoMergeScore);
        Assert.Equal(12.5, model.CandidateScore);
        Assert.Equal(3, model.MaxCandidates);
        var given = model.Find("given")!;
        Assert.Equal(("firstName", AttributeKind.Name, 6.0, MatchAttribute.DefaultWeights(AttributeKind.Name).Disagree),
            (given.Trait, given.Kind, given.Agree, given.Disagree));
        Assert.Equal("phone", model.Find("phone")!.Trait);
        Assert.Equal(["given.soundex", "phone"], model.Blocking.Select(b => b.Text));
        Assert.Equal("jonah", model.Read([new("firstName", "Jonah")])["given"]);
    }

    public static TheoryData<Action<MatchingOptions>, string> BadSettings => new()
    {
        { o => o.Attributes["firstName"].Kind = "nmae", "Attributes:firstName:Kind 'nmae' is not one of" },
        { o => o.Attributes["firstName"].Kind = null, "Attributes:firstName:Kind is required" },
        { o => o.Attributes["ssn"].Agree = -1, "Attributes:ssn:Agree must be a positive number" },
        { o => o.Attributes["ssn"].Disagree = 2, "Attributes:ssn:Disagree must be zero or negative" },
        { o => o.Attributes["ssn"].Partial = 20, "Attributes:ssn:Partial (20) must lie between" },
        { o => o.Attributes["ssn"].PartialFrom = 0, "Attributes:ssn:PartialFrom must be in (0, 1]" },
        { o => o.Attributes["firstName"].Trait = " ", "Attributes:firstName:Trait must not be empty" },
        { o => o.Attributes["firstName"].SwapWith = "postcode", "Attributes:firstName:SwapWith names 'postcode' of kind Postcode" },
        { o => o.Attributes["firstName"].SwapWith = "middleName", "'middleName', which is not a configured attribute" },
        { o => o.Attributes["city"].SwapWith = "address2", "'city' or 'address2' is already in another swap pair" },
        { o => { o.AutoMergeScore = 10; o.CandidateScore = 20; }, "AutoMergeScore (10) must be at least CandidateScore (20)" },
        { o => o.MaxCandidates = 0, "MaxCandidates must be 1-1000" },
        { o => o.MergeWith = "first", "MergeWith must be 'all' or 'best'" },
        { o => o.MaxVariantsPerProfile = 0, "MaxVariantsPerProfile must be 1-256" },
        { o => o.Blocking.Add("surname.soundex"), "'surname.soundex': 'surname' is not a configured attribute" },
        { o => o.Blocking.Add("lastName.metaphone"), "transform 'metaphone' is not one of soundex, initial, year" },
        { o => o.Blocking.Add("ssn"), "'ssn' is listed twice" },
        { o => o.Blocking.Clear(), "Blocking must list at least one blocking key" },
        { o => o.Attributes.Clear(), "Attributes must configure at least one attribute" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void InvalidSettingsAreRejectedWithTheSettingNamed(Action<MatchingOptions> spoil, string message)
    {
        var options = MatchingOptions.Febrl();
        options.Validate();
        spoil(options);
        var e = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains(message, e.Message);
        Assert.StartsWith("Configuration error: Matching:", e.Message);
        Assert.Throws<InvalidOperationException>(() => new MatchModel(options));
    }

    [Fact]
    public void DisabledMatchingNeedsNoAttributes() => new MatchingOptions().Validate();
}
