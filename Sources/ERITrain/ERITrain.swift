// ERITrain: filled in by later issues.
import ERICore
