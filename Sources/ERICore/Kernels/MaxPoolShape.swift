/// Side of MaxPool2d(3, stride 2, padding 1)'s output for an input of side `side` (SPEC §5).
public func maxPool3x3s2Side(_ side: Int) -> Int { (side - 1) / 2 + 1 }
